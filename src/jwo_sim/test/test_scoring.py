"""Scoring a store run against ground truth: receipts, items, tracking, money."""

import json
from pathlib import Path

import numpy as np
import pytest

from jwo_common.store_config import load_store_config
from jwo_sim.scoring import (REFUND, SALE, ChargedReceipt, TrackSample, score_store,
                             tracking_idf1, true_total_minor)

ROOT = Path(__file__).resolve().parents[3]
CONFIG = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
TRUTH = json.loads((ROOT / 'bags' / 'london_easy' / 'ground_truth.json').read_text())


def receipt(account, units, kind=SALE, captured=True):
    total = true_total_minor(units, CONFIG)
    return ChargedReceipt(f'session-{account}', account, kind, captured, False, units, total)


def perfect_receipts():
    return [receipt(s['account_token'], TRUTH['carts'][s['account_token']])
            for s in TRUTH['shoppers'] if TRUTH['carts'].get(s['account_token'])]


def true_tracks(shift_m=0.0):
    return [TrackSample(t, person, x + shift_m, y)
            for person, trajectory in TRUTH['trajectories'].items()
            for t, x, y in zip(trajectory['t_s'], trajectory['x_m'], trajectory['y_m'])]


def test_a_perfect_run_scores_full_marks():
    score = score_store(TRUTH, CONFIG, perfect_receipts(), true_tracks(), set())
    assert score.exact_match_rate == 1.0
    assert (score.item_precision, score.item_recall) == (1.0, 1.0)
    assert score.idf1 == pytest.approx(1.0)
    assert score.charged_minor == score.owed_minor > 0


def test_a_missed_item_an_extra_item_and_a_refund_count():
    receipts = perfect_receipts()
    first = receipts[0]
    extra_sku = next(p.sku for p in CONFIG.products if p.sku not in first.units)
    receipts[0] = receipt(first.account_token, {**first.units, extra_sku: 1})
    receipts.append(receipt(first.account_token, {extra_sku: 1}, kind=REFUND))
    dropped = receipts[1]
    receipts[1] = receipt(dropped.account_token, {})
    score = score_store(TRUTH, CONFIG, receipts, true_tracks(), set())
    exact = {s.account_token: s.exact for s in score.shoppers}
    assert exact[first.account_token]          # the refund corrected the extra item
    assert not exact[dropped.account_token]
    assert score.item_recall < 1.0 and score.item_precision == 1.0
    assert score.charged_minor < score.owed_minor


def test_declined_charges_are_not_money_taken_but_held_ones_count():
    declined = [ChargedReceipt(r.session_id, r.account_token, r.kind, False, False, r.units,
                               r.total_minor) for r in perfect_receipts()]
    score = score_store(TRUTH, CONFIG, declined, true_tracks(), set())
    assert score.charges == 0 and score.charged_minor == 0 and score.exact_match_rate < 1.0
    held = [ChargedReceipt(r.session_id, r.account_token, r.kind, False, True, r.units,
                           r.total_minor) for r in perfect_receipts()]
    score = score_store(TRUTH, CONFIG, held, true_tracks(), set())
    assert score.exact_match_rate == 1.0 and score.charges == 0 and score.held == len(held)


def test_tracks_off_by_more_than_the_radius_do_not_match():
    assert tracking_idf1(TRUTH['trajectories'], true_tracks(shift_m=50.0)) == 0.0
    assert tracking_idf1(TRUTH['trajectories'], true_tracks(shift_m=0.2)) == pytest.approx(1.0)


def test_swapped_identities_lower_idf1():
    people = sorted(TRUTH['trajectories'])
    swapped = [TrackSample(s.t_s, people[1] if s.track_id == people[0] and s.t_s > 10 else
                           s.track_id, s.x_m, s.y_m) for s in true_tracks()]
    assert tracking_idf1(TRUTH['trajectories'], swapped) < 0.99


def test_tracks_published_at_another_pace_are_scored_where_they_were_then():
    # Fusion stamps its tracks with the camera time it has reached, 1/15 s steps, and
    # publishes every 0.1 s: the stamps fall 0.067 or 0.133 s apart, and every other truth
    # time (each 0.1 s) lies halfway between two of them.
    stamps = [k / 15 for k in range(int(TRUTH['duration_s'] * 15)) if k % 3]
    tracks = []
    for person, trajectory in TRUTH['trajectories'].items():
        for t_s in stamps:
            if trajectory['t_s'][0] <= t_s <= trajectory['t_s'][-1]:
                tracks.append(TrackSample(float(t_s), person,
                                          float(np.interp(t_s, trajectory['t_s'],
                                                          trajectory['x_m'])),
                                          float(np.interp(t_s, trajectory['t_s'],
                                                          trajectory['y_m']))))
    assert tracking_idf1(TRUTH['trajectories'], tracks) == pytest.approx(1.0, abs=0.01)
    # Samples too far apart to say where the track was in between do not count there.
    sparse = [s for s in tracks if round(s.t_s * 15) % 15 == 1]
    assert tracking_idf1(TRUTH['trajectories'], sparse) < 0.5


def test_a_track_published_once_counts_at_the_truth_time_beside_it():
    person = sorted(TRUTH['trajectories'])[0]
    trajectory = TRUTH['trajectories'][person]
    once = [TrackSample(trajectory['t_s'][5] + 0.02, 'briefly', trajectory['x_m'][5],
                        trajectory['y_m'][5])]
    assert tracking_idf1(TRUTH['trajectories'], once) > 0.0
