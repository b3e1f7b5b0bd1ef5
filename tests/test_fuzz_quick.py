"""A quick run of scripts/fuzz.py: mutated inputs to every outside-facing parser either parse
or raise that parser's own clear error."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location(
    'fuzz', Path(__file__).resolve().parents[1] / 'scripts' / 'fuzz.py')
fuzz = importlib.util.module_from_spec(SPEC)
sys.modules['fuzz'] = fuzz         # its dataclasses look their module up there
SPEC.loader.exec_module(fuzz)


@pytest.fixture(scope='module')
def targets(tmp_path_factory):
    return {t.name: t for t in fuzz.targets(tmp_path_factory.mktemp('fuzz'))}


@pytest.mark.parametrize('name', ['store_config', 'qr_payload', 'load_cell_line', 'rfid_line',
                                  'camera_info', 'bag'])
def test_no_parser_crashes_on_mutated_input(targets, name):
    assert fuzz.fuzz(targets[name], 150, seed=7) == []


def test_an_unexpected_exception_is_reported_as_a_crash():
    def fragile(text):
        if 'x' in text:
            raise KeyError(text)
        raise ValueError('refused clearly')
    target = fuzz.Target('fragile', lambda rng: rng.choice(['a', 'x']), fragile, (ValueError,))
    crashes = fuzz.fuzz(target, 50, seed=1)
    assert crashes and all('KeyError' in c for c in crashes)


def test_mutations_are_seeded():
    data = b'S,1041,17350000,84120,-3,E,120577'
    first = [fuzz.mutate_bytes(data, random.Random(3)) for _ in range(5)]
    assert first == [fuzz.mutate_bytes(data, random.Random(3)) for _ in range(5)]
    assert any(m != data for m in first)
