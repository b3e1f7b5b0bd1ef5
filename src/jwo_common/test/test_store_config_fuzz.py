"""Property test: any mutation of a valid store config either loads or is refused with one
line naming the file, never another exception."""

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwo_common.store_config import StoreConfig, StoreConfigError, parse_store_config

REPO = Path(__file__).resolve().parents[3]
SOURCE = REPO / 'config' / 'london' / 'store.yaml'
LONDON = yaml.safe_load(SOURCE.read_text())


def _paths(node, prefix=()):
    """Every key path into the config, leaves and branches."""
    children = node.items() if isinstance(node, dict) else \
        enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield prefix + (key,)
        yield from _paths(child, prefix + (key,))


PATHS = list(_paths(LONDON))
ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                       st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                       st.lists(st.integers(), max_size=3),
                       st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


@st.composite
def mutated_configs(draw):
    config = copy.deepcopy(LONDON)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = config
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()):
                parent[path[-1]] = draw(ODD_VALUES)
            elif isinstance(parent, dict):
                del parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue    # an earlier mutation removed or replaced this branch
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_configs())
def test_mutated_config_loads_or_gets_a_one_line_error(data):
    try:
        result = parse_store_config(data, SOURCE)
    except StoreConfigError as error:
        message = str(error)
        assert message.startswith(f'{SOURCE}: ')
        assert '\n' not in message
        assert len(message) > len(f'{SOURCE}: ')
    else:
        assert isinstance(result, StoreConfig)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=8), children, max_size=3),
                    max_leaves=10))
def test_arbitrary_yaml_data_gets_a_one_line_error(data):
    try:
        parse_store_config(data, SOURCE)
    except StoreConfigError as error:
        assert '\n' not in str(error)
