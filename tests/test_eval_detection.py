"""How scripts/eval_detection.py scores the detector's reaches against the true picks."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

from jwo_cameras.detection import PersonDetection

SPEC = importlib.util.spec_from_file_location(
    'eval_detection', Path(__file__).resolve().parents[1] / 'scripts' / 'eval_detection.py')
eval_detection = importlib.util.module_from_spec(SPEC)
sys.modules['eval_detection'] = eval_detection
SPEC.loader.exec_module(eval_detection)

FRONTS = {'a_11': np.array([2.25, 5.0, 0.9]), 'a_12': np.array([2.75, 5.0, 0.9])}
# acct_1 takes from a_11 from 10.0 s (the plate pressed) to 10.6 s (let go).
EVENTS = [{'account_token': 'acct_1', 'slot_id': 'a_11', 't_start_s': 10.0,
           't_settled_s': 10.6}]


def person(x_m, reach=None):
    return PersonDetection(x_m, 4.55, 1.7, 0.08, 1.0, reach)


def score(t_s, people, owners):
    counts, taker_seen, other_seen = np.zeros(4, int), set(), set()
    eval_detection.score_reaches(people, owners, t_s, EVENTS, FRONTS, counts, taker_seen,
                                 other_seen)
    return counts.tolist(), taker_seen, other_seen


def test_the_takers_reach_at_the_slot_is_right_and_seen():
    people = [person(2.25, (2.3, 4.95, 1.1)), person(2.8)]
    assert score(10.3, people, {0: 'acct_1/0', 1: 'acct_2/0'}) == ([1, 1, 1, 1], {0}, set())


def test_a_neighbours_hand_at_the_slot_is_someone_else_seen_there():
    # acct_2's hand at a_11 (near enough its front) as acct_1 takes from it; acct_1's unseen.
    people = [person(2.25), person(2.8, (2.4, 4.95, 1.1))]
    assert score(10.3, people, {0: 'acct_1/0', 1: 'acct_2/0'}) == ([1, 0, 1, 0], set(), {0})


def test_a_reach_at_the_wrong_slot_or_time_is_wrong():
    at_a12 = [person(2.25, (2.75, 4.95, 1.1))]
    assert score(10.3, at_a12, {0: 'acct_1/0'}) == ([1, 0, 1, 0], set(), set())
    # At 9.5 s the hand is not yet half way out, nor is the weight changing.
    at_a11_early = [person(2.25, (2.3, 4.95, 1.1))]
    assert score(9.5, at_a11_early, {0: 'acct_1/0'}) == ([1, 0, 0, 0], set(), set())


def test_a_reach_on_a_detection_of_nobody_is_someone_else_at_the_slot():
    people = [person(2.25, (2.3, 4.95, 1.1))]
    assert score(10.3, people, {}) == ([0, 0, 0, 0], set(), {0})
