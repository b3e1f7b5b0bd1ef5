"""Scenario model: YAML round trip, one-line errors, seeded generation."""

from pathlib import Path

import pytest

from jwo_common.store_config import load_store_config
from jwo_sim.scenario import (ScenarioError, Shopper, Visit, check_scenario, generate_scenario,
                              load_scenario, save_scenario)

ROOT = Path(__file__).resolve().parents[3]
LONDON = ROOT / 'config' / 'london' / 'store.yaml'


@pytest.fixture(scope='module')
def london():
    return load_store_config(LONDON)


def test_same_seed_same_scenario_and_another_seed_differs(london):
    first = generate_scenario(london, 11, 6, 60.0, 'hard')
    assert first == generate_scenario(london, 11, 6, 60.0, 'hard')
    assert first != generate_scenario(london, 12, 6, 60.0, 'hard')
    assert len(first.shoppers) >= 4
    assert any(v.kind == 'put' for s in first.shoppers for v in s.visits) or \
        any(v.quantity > 1 for s in first.shoppers for v in s.visits)
    check_scenario(first, london, 'generated')


def test_yaml_round_trip(london, tmp_path):
    scenario = generate_scenario(london, 3, 5, 60.0, 'medium', store_config_path='x.yaml')
    save_scenario(scenario, tmp_path / 's.yaml')
    assert load_scenario(tmp_path / 's.yaml') == scenario


def test_bad_field_is_one_line_naming_file_and_field(london, tmp_path):
    scenario = generate_scenario(london, 3, 2, 60.0, 'easy')
    path = tmp_path / 'bad.yaml'
    save_scenario(scenario, path)
    path.write_text(path.read_text().replace('quantity: 1', 'quantity: 0', 1))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    message = str(error.value)
    assert '\n' not in message
    assert str(path) in message and 'shoppers[' in message and '.quantity' in message
    path.write_text('shoppers: [unclosed')
    with pytest.raises(ScenarioError, match='bad.yaml: line 1: invalid YAML'):
        load_scenario(path)


def test_put_back_of_something_not_carried_is_rejected(london):
    scenario = generate_scenario(london, 3, 1, 60.0, 'easy')
    thief = Shopper(account_token='acct_x', arrival_s=1.0, visits=[
        Visit(slot_id='a_11', kind='pick'),
        Visit(slot_id='b_11', kind='put', sku='GB-BEANS-415'),
        Visit(slot_id='zz_99', kind='pick')])
    scenario = scenario.model_copy(update={'shoppers': [thief]})
    with pytest.raises(ScenarioError) as error:
        check_scenario(scenario, london, 'scenario.yaml')
    message = str(error.value)
    assert message.startswith('scenario.yaml: ')
    assert 'shoppers[0].visits[1].quantity: puts back 1 x GB-BEANS-415 but carries 0' in message
    assert "shoppers[0].visits[2].slot_id: unknown slot 'zz_99'" in message


def test_unknown_difficulty_is_an_error(london):
    with pytest.raises(ScenarioError, match='difficulty'):
        generate_scenario(london, 1, 1, 30.0, 'insane')


def test_arrivals_spread_over_the_share_of_the_duration_asked_for(london):
    def last_arrival(**spread):
        scenario = generate_scenario(london, 4, 30, 1800.0, 'medium', **spread)
        return max(s.arrival_s for s in scenario.shoppers)
    assert last_arrival() <= 0.4 * 1800 + 5     # medium's own spread, a turnstile gap over
    assert last_arrival(arrival_spread=0.9) > 0.6 * 1800
    with pytest.raises(ScenarioError, match='arrival spread'):
        generate_scenario(london, 4, 30, 1800.0, 'medium', arrival_spread=0.0)
