"""Shopper motion and load-cell physics against the ground truth."""

from pathlib import Path

import numpy as np
import pytest

from jwo_common.frames import shelf_to_map
from jwo_common.store_config import load_store_config
from jwo_sim.load_cells import load_cell_batches
from jwo_sim.scenario import generate_scenario
from jwo_sim.shoppers import (ARRIVED_M, BODY_GAP_M, CATCH_UP, FOLLOW_GAP_M, PERSONAL_SPACE_M,
                              SHELF_MARGIN_M, SQUEEZE_GAP_M, slot_standing_point)
from jwo_sim.simulation import simulate

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope='module', params=['london', 'seattle'])
def result(request):
    config = load_store_config(ROOT / 'config' / request.param / 'store.yaml')
    return simulate(config, generate_scenario(config, 21, 8, 90.0, 'medium'))


def test_shoppers_walk_from_entry_to_exit_around_shelves(result):
    config = result.config
    entry, exit_ = config.gates_of_kind('entry')[0].zone, config.gates_of_kind('exit')[0].zone
    for shopper, plan in zip(result.scenario.shoppers, result.plans):
        t_s = np.arange(plan.arrival_s, plan.exit_s, 0.05)
        x_m, y_m = plan.position(t_s)
        assert entry.contains(x_m[0], y_m[0]) and exit_.contains(x_m[-1], y_m[-1])
        speed = np.hypot(np.diff(x_m), np.diff(y_m)) / 0.05
        assert speed.max() <= shopper.walking_speed_mps * 1.001
        for shelf in config.shelves:
            local = np.linalg.inv(shelf_to_map(shelf)) @ np.stack(
                [x_m, y_m, np.zeros_like(x_m), np.ones_like(x_m)])
            margin = SHELF_MARGIN_M - 0.01
            inside = ((local[0] > -margin) & (local[0] < shelf.width_m + margin)
                      & (local[1] > -margin) & (local[1] < shelf.depth_m + margin))
            assert not inside.any(), f'{shopper.account_token} walks through {shelf.id}'
        for reach in plan.reaches:
            shelf = config.shelf(reach.shelf_id)
            slot = next(s for s in shelf.slots if s.id == reach.slot_id)
            at_press = np.ravel(plan.position(np.array([reach.t_press_start_s])))
            # In front of the slot, or beside that place when another shopper stands there.
            assert any(np.allclose(at_press, slot_standing_point(shelf, slot.x_m + side),
                                   atol=ARRIVED_M)
                       for side in (0.0, PERSONAL_SPACE_M, -PERSONAL_SPACE_M))


def test_plate_weight_changes_match_true_events(result):
    events = result.events
    assert len(events) >= 8
    noise = result.scenario.faults.noise_g
    checked = 0
    for event in events:
        signal = result.signals[event.shelf_id]
        grams = signal.grams[:, signal.slot_ids.index(event.slot_id)]
        product = result.config.product(event.sku)
        assert abs(event.delta_grams) == pytest.approx(
            product.unit_weight_g * event.quantity,
            abs=4 * product.weight_stddev_g * np.sqrt(event.quantity) + 0.5)
        # Reaches into one slot that overlap in time have no quiet plate between them.
        others = [e for e in events if e.slot_id == event.slot_id and e is not event]
        if any(e.t_settled_s > event.t_start_s - 1.0 and e.t_start_s < event.t_settled_s + 1.0
               for e in others):
            continue
        before = np.nanmedian(grams[(signal.t_s > event.t_start_s - 1.0)
                                    & (signal.t_s < event.t_start_s)])
        after = np.nanmedian(grams[(signal.t_s > event.t_settled_s)
                                   & (signal.t_s < event.t_settled_s + 1.0)])
        assert after - before == pytest.approx(event.delta_grams, abs=3 * noise + 2)
        touching = grams[(signal.t_s >= event.t_start_s) & (signal.t_s < event.t_settled_s)]
        assert np.nanmax(touching) > max(before, after) + 100, 'hand press transient'
        checked += 1
    assert checked >= len(events) * 0.7


def test_plates_end_where_the_events_leave_them(result):
    for shelf_id, signal in result.signals.items():
        for column, slot_id in enumerate(signal.slot_ids):
            grams = signal.grams[:, column]
            total_change = sum(e.delta_grams for e in result.events if e.slot_id == slot_id)
            start, end = np.nanmedian(grams[:30]), np.nanmedian(grams[-30:])
            drift = abs(result.scenario.faults.drift_g_per_min) * result.scenario.duration_s / 60
            tolerance = drift + 3 * result.scenario.faults.noise_g + 2
            assert end - start == pytest.approx(total_change, abs=tolerance)


def test_carts_are_picks_minus_put_backs(result):
    carts = result.carts()
    for shopper in result.scenario.shoppers:
        taken = {}
        for event in result.events:
            if event.account_token == shopper.account_token:
                sign = 1 if event.kind == 'pick' else -1
                taken[event.sku] = taken.get(event.sku, 0) + sign * event.quantity
        assert carts[shopper.account_token] == {sku: n for sku, n in taken.items() if n}
    weight_left = sum(-e.delta_grams for e in result.events)
    expected = sum(result.config.product(sku).unit_weight_g * n
                   for cart in carts.values() for sku, n in cart.items())
    assert weight_left == pytest.approx(expected, rel=0.02)


def test_batches_are_100_ms_rows_of_slots(result):
    signal = result.signals['shelf_a']
    batches = list(load_cell_batches(signal))
    assert len(batches) == len(signal.t_s) // 6
    assert all(b.grams.shape == (6, len(signal.slot_ids)) and b.grams.dtype == np.float32
               for b in batches)
    assert batches[1].stamp_s == pytest.approx(0.1)
    np.testing.assert_array_equal(np.concatenate([b.grams for b in batches]), signal.grams)


def test_fault_knobs_shape_the_signal():
    config = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
    scenario = generate_scenario(config, 4, 1, 60.0, 'easy')
    for noise_g, dropout in ((0.5, 0.0), (6.0, 0.002)):
        faults = scenario.faults.model_copy(update={'noise_g': noise_g, 'drift_g_per_min': 0.0,
                                                    'dropout_probability': dropout})
        quiet = scenario.model_copy(update={'shoppers': [], 'faults': faults})
        grams = simulate(config, quiet).signals['shelf_a'].grams
        assert np.isnan(grams).any() == (dropout > 0)
        assert np.nanstd(grams - np.nanmedian(grams, axis=0), axis=0).mean() == \
            pytest.approx(noise_g, rel=0.1)


def test_party_members_never_step_closer_than_the_gap():
    config = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
    scenario = generate_scenario(config, 21, 8, 90.0, 'hard')
    plans = simulate(config, scenario).plans
    parties = [(s, plan) for s, plan in zip(scenario.shoppers, plans) if s.party_size > 1]
    assert parties
    for shopper, plan in parties:
        for member in range(1, shopper.party_size):
            enter_s, leave_s = plan.present_s(member)
            assert enter_s > plan.present_s(member - 1)[0]
            assert leave_s > plan.present_s(member - 1)[1]
            t_s = np.arange(enter_s, plan.present_s(0)[1], 0.05)
            follower = np.stack(plan.position(t_s, member), axis=1)
            steps = np.hypot(*np.diff(follower, axis=0).T)
            assert steps.max() / 0.05 <= shopper.walking_speed_mps * CATCH_UP * 1.001
            for ahead in range(member):
                other = np.stack(plan.position(t_s, ahead), axis=1)
                gap_after = np.hypot(*(follower[1:] - other[1:]).T)
                gap_before = np.hypot(*(follower[:-1] - other[1:]).T)
                moved_closer = (steps > 1e-9) & (gap_after < FOLLOW_GAP_M - 1e-6) \
                    & (gap_after < gap_before - 1e-9)
                assert not moved_closer.any()


def test_shoppers_at_one_shelf_stand_apart():
    config = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
    # Hard: half the visits go to one crowded shelf.
    result = simulate(config, generate_scenario(config, 5, 12, 120.0, 'hard'))
    reaches = [reach for plan in result.plans for reach in plan.reaches]
    beside = 0
    for i, first in enumerate(reaches):
        for second in reaches[i + 1:]:
            if first.t_arrive_s < second.t_leave_s and second.t_arrive_s < first.t_leave_s:
                gap = np.hypot(first.x_m - second.x_m, first.y_m - second.y_m)
                assert gap >= PERSONAL_SPACE_M - 1e-6, (first, second)
                beside += first.slot_id == second.slot_id or gap < 2 * PERSONAL_SPACE_M
    assert beside       # the scenario does put shoppers side by side


def test_nobody_walks_through_anyone():
    config = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
    # Hard: parties, and half the visits to one crowded shelf.
    result = simulate(config, generate_scenario(config, 5, 12, 120.0, 'hard'))
    entry = config.gates_of_kind('entry')[0].zone
    t_s = np.arange(0.0, result.scenario.duration_s, 0.05)
    people = []
    for shopper, plan in zip(result.scenario.shoppers, result.plans):
        for member in range(shopper.party_size):
            enter_s, leave_s = plan.present_s(member)
            x_m, y_m = plan.position(t_s, member)
            # Parties come in one after another at the entry gate, right behind each other.
            away = (t_s >= enter_s) & (t_s <= leave_s) & ~(
                (x_m < entry.max_x + 0.5) & (y_m < entry.max_y + 0.5))
            people.append((shopper.account_token, np.where(away, x_m, np.nan),
                           np.where(away, y_m, np.nan)))
    closest = []
    for i, (party, x_m, y_m) in enumerate(people):
        for other_party, other_x_m, other_y_m in people[i + 1:]:
            gaps = np.hypot(x_m - other_x_m, y_m - other_y_m)
            if party != other_party and not np.isnan(gaps).all():
                closest.append(np.nanmin(gaps))
    assert min(closest) >= SQUEEZE_GAP_M - 0.05
    # Most pass at a body's width; squeezing past is the exception.
    near = np.array(closest)[np.array(closest) < 1.0]
    assert (near >= BODY_GAP_M - 0.1).mean() >= 0.9
