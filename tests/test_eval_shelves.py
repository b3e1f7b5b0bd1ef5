"""The truth scripts/eval_shelves.py scores against: per reach, and as the plate shows it."""

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from jwo_shelves.shelf_monitor import EventKind
from jwo_sim.load_cells import ShelfEventTruth, ShelfSignal

SPEC = importlib.util.spec_from_file_location(
    'eval_shelves', Path(__file__).resolve().parents[1] / 'scripts' / 'eval_shelves.py')
eval_shelves = importlib.util.module_from_spec(SPEC)
sys.modules['eval_shelves'] = eval_shelves
SPEC.loader.exec_module(eval_shelves)

RATE_HZ = 60.0
BOTTLE_G = 775.0
# The detector's: lifts this far apart are two; smaller ones than this may go unseen.
LIFTS = dict(lift_gap_s=0.3, lift_visible_g=50.0)


def reach(start_s, settled_s, kind, quantity=1, shopper=0):
    sign = -1 if kind == 'pick' else 1
    return ShelfEventTruth(start_s, settled_s, 'shelf_b', 'b_22', 'WATER', quantity, kind,
                           f'acct_{shopper}', shopper, sign * quantity * BOTTLE_G)


def signal(dropouts=()):
    t_s = np.arange(0, 10, 1 / RATE_HZ)
    grams = np.full((t_s.size, 1), 3100.0, dtype=np.float32)
    for start_s, end_s in dropouts:
        grams[(t_s >= start_s) & (t_s < end_s)] = np.nan
    return ShelfSignal('shelf_b', RATE_HZ, ('b_22',), t_s, grams)


def scenario(events, dropouts=()):
    return SimpleNamespace(events=events, signals={'shelf_b': signal(dropouts)})


# One shopper takes a bottle, a second takes three before the plate rests, the first puts
# his back: the plate goes from four bottles to one without resting in between.
CHAIN = [reach(3.0, 3.5, 'pick', 1, shopper=0), reach(3.55, 4.4, 'pick', 3, shopper=7),
         reach(4.45, 5.0, 'put', 1, shopper=0)]


def test_each_reach_is_its_own_event_but_counts_latency_from_the_plates_settle():
    truths, plate_settles_ns, merged = eval_shelves.true_events(
        scenario(CHAIN), quiet_gap_s=0.0, net=False, rest_s=0.5, **LIFTS)
    assert [(t.kind, t.quantity) for t in truths] == \
        [(EventKind.PICK, 1), (EventKind.PICK, 3), (EventKind.PUT, 1)]
    assert [t.settled_ns / 1e9 for t in truths] == pytest.approx([3.5, 4.4, 5.0])
    assert merged == 0
    # None of them could be seen settled before the last hand left the plate.
    assert [ns / 1e9 for ns in plate_settles_ns] == pytest.approx([5.0, 5.0, 5.0])
    assert [t.seen_ns / 1e9 for t in truths] == pytest.approx([5.0, 5.0, 5.0], abs=0.02)


def test_the_plate_shows_reaches_without_a_rest_between_them_as_their_net_change():
    truths, plate_settles_ns, merged = eval_shelves.true_events(
        scenario(CHAIN), quiet_gap_s=0.5, net=True, rest_s=0.5, **LIFTS)
    assert [(t.kind, t.sku, t.quantity) for t in truths] == [(EventKind.PICK, 'WATER', 3)]
    assert merged == 2
    assert plate_settles_ns == [5_000_000_000]


def test_a_rest_longer_than_the_settling_window_keeps_reaches_apart():
    apart = [reach(3.0, 3.5, 'pick'), reach(4.1, 4.6, 'pick', shopper=1)]
    truths, plate_settles_ns, merged = eval_shelves.true_events(
        scenario(apart), quiet_gap_s=0.5, net=True, rest_s=0.5, **LIFTS)
    assert [t.quantity for t in truths] == [1, 1] and merged == 0
    assert [ns / 1e9 for ns in plate_settles_ns] == pytest.approx([3.5, 4.6])


def test_a_dropout_right_after_the_settle_moves_the_readable_settle_by_its_length():
    truths, plate_settles_ns, _ = eval_shelves.true_events(
        scenario([reach(3.0, 3.5, 'pick')], dropouts=[(3.7, 4.2)]),
        quiet_gap_s=0.0, net=False, rest_s=0.5, **LIFTS)
    assert plate_settles_ns == [3_500_000_000]
    assert truths[0].seen_ns / 1e9 == pytest.approx(4.0, abs=0.02)


@pytest.mark.parametrize('second_start_s, visible_g, quantities', [
    (3.5, 50.0, [1, 3]),       # units leave 3.35 s and 3.9 s: two lifts, two events
    (3.2, 50.0, [4]),          # 3.35 s and 3.5 s: one lift
    (3.5, 1000.0, [4]),        # lifts too small for the cells to show
])
def test_reaches_taking_in_turn_are_split_where_their_units_left(second_start_s, visible_g,
                                                                 quantities):
    in_turn = [reach(3.0, 3.7, 'pick', 1, shopper=0),
               reach(second_start_s, second_start_s + 0.8, 'pick', 3, shopper=7)]
    truths, plate_settles_ns, merged = eval_shelves.true_events(
        scenario(in_turn), quiet_gap_s=0.5, net=True, rest_s=0.5, lift_gap_s=0.3,
        lift_visible_g=visible_g)
    assert [t.quantity for t in truths] == quantities
    assert merged == 2 - len(quantities)
    # Neither is seen settled before the plate rests.
    assert len(set(plate_settles_ns)) == 1
