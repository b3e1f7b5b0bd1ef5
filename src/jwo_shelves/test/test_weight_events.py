"""The settling detector on small, explicit load-cell signals (60 Hz, grams)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwo_shelves.weight_events import (DetectorSettings, LoadCellBatch, Phase,
                                       ShelfWeightDetector)

RATE_HZ = 60.0
# Four plates in a row on one level: 0-1-2-3 touch their neighbours.
ROW = [[1], [0, 2], [1, 3], [2]]


def resting(seconds: float, levels, noise_g: float = 0.8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    samples = round(seconds * RATE_HZ)
    return np.asarray(levels, float) + rng.normal(0.0, noise_g, (samples, len(levels)))


def at(seconds: float) -> int:
    return round(seconds * RATE_HZ)


def hand(signal: np.ndarray, plate: int, start_s: float, duration_s: float, peak_g: float):
    """A hand pressing on a plate: a smooth bump of extra force."""
    rows = np.arange(at(start_s), at(start_s + duration_s))
    signal[rows, plate] += peak_g * np.sin(np.pi * (rows - rows[0]) / len(rows))


def run(signal: np.ndarray, batch_samples: int = 6, adjacent=ROW, settings=None):
    detector = ShelfWeightDetector(signal.shape[1], adjacent, settings or DetectorSettings())
    events = []
    for first in range(0, len(signal), batch_samples):
        batch = LoadCellBatch(start_ns=round(first * 1e9 / RATE_HZ), sample_rate_hz=RATE_HZ,
                              grams=signal[first:first + batch_samples])
        events += [(e, batch.stamp_ns(len(batch.grams) - 1)) for e in detector.process(batch)]
    return detector, events + [(e, None) for e in detector.flush()]


def test_pick_with_hand_transient_gives_one_settled_change():
    signal = resting(6, [2000, 1500, 1000, 500])
    hand(signal, 1, 2.0, 0.6, 300)
    signal[at(2.5):, 1] -= 455
    _, events = run(signal)
    assert len(events) == 1
    event, released_ns = events[0]
    assert event.slots == (1,)
    assert event.delta_g == pytest.approx(-455, abs=1.5)
    assert 2.0 <= event.started_ns / 1e9 <= 2.2
    assert 2.55 <= event.settled_ns / 1e9 <= 2.75
    assert released_ns - event.settled_ns <= 0.7e9
    # The units left at 2.5 s: the first sample at the new level.
    assert event.changes[0].lifted_ns == round(at(2.5) * 1e9 / RATE_HZ)


def test_hand_pressing_without_taking_is_not_an_event():
    signal = resting(5, [2000, 1500, 1000, 500])
    hand(signal, 0, 1.0, 1.5, 800)
    hand(signal, 1, 1.2, 0.4, 120)
    _, events = run(signal)
    assert events == []


def test_drift_is_followed_and_a_pick_during_drift_is_measured_exactly():
    signal = resting(40, [2000, 1500, 1000, 500])
    signal[:, 2] += np.linspace(0, 8, len(signal))     # 12 g a minute: a bad cell on a hot day
    signal[at(25):, 2] -= 104
    detector, events = run(signal)
    assert [e.slots for e, _ in events] == [(2,)]
    assert events[0][0].delta_g == pytest.approx(-104, abs=1.0)
    assert detector.baseline_g(2) == pytest.approx(1000 + 8 - 104, abs=1.0)


def test_item_across_two_touching_plates_is_one_event():
    signal = resting(4, [2000, 1500, 1000, 500])
    signal[at(1.5):, 2] -= 200
    signal[at(1.55):, 3] -= 330
    _, events = run(signal)
    assert len(events) == 1
    assert events[0][0].slots == (2, 3)
    assert events[0][0].delta_g == pytest.approx(-530, abs=2)


def test_simultaneous_changes_on_plates_that_do_not_touch_stay_apart():
    signal = resting(4, [2000, 1500, 1000, 500])
    signal[at(1.5):, 0] -= 470
    signal[at(1.5):, 3] += 262
    _, events = run(signal)
    assert sorted(e.slots for e, _ in events) == [(0,), (3,)]


def test_missing_readings_do_not_make_or_break_events():
    signal = resting(6, [2000, 1500, 1000, 500], seed=3)
    rng = np.random.default_rng(4)
    signal[rng.random(signal.shape) < 0.1] = np.nan
    signal[at(1.0):at(1.3), :] = np.nan                 # every cell drops out for 0.3 s
    signal[at(3.0):, 0] += 530
    _, events = run(signal)
    assert [e.slots for e, _ in events] == [(0,)]
    assert events[0][0].delta_g == pytest.approx(530, abs=1.5)


def test_dead_and_stuck_cells_invent_no_events():
    signal = resting(8, [2000, 1500, 1000, 500])
    signal[:, 0] = np.nan                               # dead from the start
    signal[:, 1] = 1500.25                              # stuck: no noise at all
    signal[at(4):, 2] = np.inf                          # dies later with garbage
    detector, events = run(signal)
    assert events == []
    assert detector.phase(0) is Phase.LEARNING
    assert detector.phase(2) is Phase.LEARNING


def test_a_cell_back_after_a_long_silence_relearns_instead_of_reporting_a_change():
    signal = resting(6, [2000, 1500, 1000, 500])
    signal[at(1):at(3), 0] = np.nan
    signal[at(3):, 0] -= 800                            # changed while nobody could see
    _, events = run(signal)
    assert events == []


def test_the_same_samples_in_other_batch_sizes_give_the_same_events():
    signal = resting(8, [2000, 1500, 1000, 500], seed=9)
    hand(signal, 1, 2.0, 0.5, 200)
    signal[at(2.4):, 1] -= 318
    signal[at(5.0):, 3] += 3 * 172
    def summary(batch_samples):
        return [(e.slots, round(e.started_ns, -3), round(e.settled_ns, -3),
                 round(e.detected_ns, -3), round(e.delta_g, 6))
                for e, _ in run(signal, batch_samples=batch_samples)[1]]
    reference = summary(6)
    assert len(reference) == 2
    for size in (1, 7, 60):
        assert summary(size) == reference


def two_hands_in_turn(first_g: float, second_g: float, second_at_s: float = 2.9):
    """Plate 1: one hand presses from 2.0 s and lifts `first_g` at 2.35 s; another presses
    before the first has let go and lifts `second_g` at `second_at_s`: it never rests."""
    signal = resting(6, [2000, 1500, 1000, 500], seed=4)
    hand(signal, 1, 2.0, 0.7, 350)
    signal[at(2.35):, 1] += first_g
    hand(signal, 1, second_at_s - 0.4, 0.8, 300)
    signal[at(second_at_s):, 1] += second_g
    return signal


@pytest.mark.parametrize('batch_samples', [1, 6, 13])
def test_two_hands_lifting_in_turn_from_a_plate_that_never_rests_are_two_changes(
        batch_samples):
    _, events = run(two_hands_in_turn(-216.0, -324.0), batch_samples=batch_samples)
    first, second = (event for event, _ in events)
    assert first.slots == second.slots == (1,)
    assert first.delta_g + second.delta_g == pytest.approx(-540.0, abs=1.5)
    assert first.delta_g == pytest.approx(-216.0, abs=6.0)
    # Each part spans its own hand's lift: they meet halfway between the lifts.
    assert first.started_ns / 1e9 <= 2.1 and first.settled_ns == second.started_ns
    assert 2.55 <= second.started_ns / 1e9 <= 2.7 <= 3.3 <= second.settled_ns / 1e9
    assert [event.changes[0].lifted_ns for event in (first, second)] == \
        [round(at(s) * 1e9 / RATE_HZ) for s in (2.35, 2.9)]


@pytest.mark.parametrize('first_g, second_g, second_at_s, lifted_s', [
    (-216.0, -324.0, 2.55, 2.35),    # lifts too close together to be two hands: one, from 2.35 s
    (216.0, -324.0, 2.9, None),      # a put and a pick: their sum, no one moment of a lift
])
def test_lifts_that_cannot_be_told_apart_stay_one_change(first_g, second_g, second_at_s,
                                                         lifted_s):
    _, events = run(two_hands_in_turn(first_g, second_g, second_at_s))
    [(event, _)] = events
    assert event.delta_g == pytest.approx(first_g + second_g, abs=1.5)
    assert event.changes[0].lifted_ns == (round(at(lifted_s) * 1e9 / RATE_HZ) if lifted_s
                                          else 0)


def test_a_hand_starting_to_press_between_two_samples_is_not_a_lift():
    # As in the shelf benchmark: a press starts off the sample grid, so its first sample
    # holds part of a jump of the hand's force (11 of 22 g), between none before and whole
    # ones after; the units leave near the press's end, over two samples. Meanwhile a hand
    # leans on another plate of the shelf, so lifts are looked for.
    signal = resting(4, [2000, 1500, 1000, 500], noise_g=0.05)
    hand(signal, 3, 1.7, 1.0, 300)
    t_s = np.arange(len(signal)) / RATE_HZ
    press_s = 0.505
    start_s = at(2.0) / RATE_HZ - press_s / np.pi * np.arcsin(11 / 210)
    pressing = (t_s >= start_s) & (t_s < start_s + press_s)
    signal[pressing, 1] += 210 * np.sin(np.pi * (t_s[pressing] - start_s) / press_s)
    signal[t_s >= start_s + 0.4, 1] -= 626
    signal[t_s >= start_s + 0.4 + 1 / RATE_HZ, 1] -= 10
    _, events = run(signal)
    [(event, _)] = events
    assert event.delta_g == pytest.approx(-636, abs=1.5)


def test_a_change_seen_first_after_a_dropout_started_no_later_than_its_lift():
    # London_tricky's a_23: the cells gave nothing from 11.2 to 11.53 s while a hand pressed;
    # the tea left at 11.65 s, before the window showed the plate moving (11.75 s). Staff
    # asked about the change from its start would not see the lift.
    signal = resting(5, [2000, 1500, 1000, 500])
    hand(signal, 2, 1.8, 1.0, 300)
    signal[at(2.3):, 2] -= 1042
    signal[at(1.75):at(2.2), 2] = np.nan
    _, events = run(signal)
    [(event, _)] = events
    assert event.started_ns <= round(2.3 * 1e9)
    assert event.delta_g == pytest.approx(-1042, abs=1.5)


def test_a_glitching_cell_at_rest_keeps_no_lifts_an_activity_could_not_use():
    # Single-sample spikes too small to start an activity are lifts all the same (+g, -g);
    # a cell doing that all day must not fill the memory.
    signal = resting(120, [2000, 1500, 1000, 500])
    signal[at(1.0)::at(3.0), 0] += 15.0
    detector, events = run(signal, batch_samples=60)
    assert events == []
    lifts = detector._lifts[0]
    assert len(lifts) > 10
    assert lifts[-1][0] - lifts[0][0] <= (DetectorSettings().max_active_s
                                          + DetectorSettings().window_s) * 1e9


def test_a_lost_batch_does_not_join_samples_across_the_gap():
    signal = resting(4, [2000, 1500, 1000, 500])
    detector = ShelfWeightDetector(4, ROW)
    events = []
    for first in range(0, len(signal), 6):
        if first == 120:
            continue                                    # one message lost
        events += detector.process(LoadCellBatch(round(first * 1e9 / RATE_HZ), RATE_HZ,
                                                 signal[first:first + 6]))
    assert events == []
    assert detector.phase(0) is Phase.RESTING


def test_noise_level_is_learnt_while_resting():
    signal = resting(10, [2000, 1500, 1000, 500], noise_g=3.0)
    detector, events = run(signal)
    assert events == []
    assert detector.noise_stddev_g(0) == pytest.approx(3.0, rel=0.25)


def test_a_cell_that_turns_very_noisy_is_learnt_again_and_keeps_working():
    signal = resting(20, [2000, 1500, 1000, 500])
    noisy = at(2)
    signal[noisy:, 0] += np.random.default_rng(1).normal(0, 30.0, len(signal) - noisy)
    signal[at(17):, 0] -= 1040
    detector, events = run(signal, settings=DetectorSettings(max_active_s=5.0))
    assert [e.slots for e, _ in events] == [(0,)]
    assert events[0][0].delta_g == pytest.approx(-1040, abs=30)
    assert detector.noise_stddev_g(0) == pytest.approx(30.0, rel=0.3)


def test_bad_settings_and_batches_are_refused_with_a_reason():
    with pytest.raises(ValueError, match='window_s'):
        DetectorSettings(window_s=0)
    detector = ShelfWeightDetector(4, ROW)
    with pytest.raises(ValueError, match='expected'):
        detector.process(LoadCellBatch(0, RATE_HZ, np.zeros((6, 3))))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(delta_g=st.floats(20, 3000) | st.floats(-3000, -20),
       noise_g=st.floats(0.2, 1.5), level_g=st.floats(200, 5000),
       step_s=st.floats(1.5, 3.0), hand_s=st.floats(0.0, 0.8), hand_g=st.floats(0, 600),
       step_within_hand=st.floats(0.2, 0.8), plate=st.integers(0, 3),
       batch_samples=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_any_clean_step_is_exactly_one_event_measured_within_noise(
        delta_g, noise_g, level_g, step_s, hand_s, hand_g, step_within_hand, plate,
        batch_samples, seed):
    signal = resting(step_s + 2.0, [level_g] * 4, noise_g=noise_g, seed=seed)
    if hand_s > 0.05:
        hand(signal, plate, step_s - step_within_hand * hand_s, hand_s, hand_g)
    signal[at(step_s):, plate] += delta_g
    _, events = run(signal, batch_samples=batch_samples)
    assert [e.slots for e, _ in events] == [(plate,)]
    # The settled level is the mean of the quiet window's newer half (a quarter second); with
    # the baseline's own error the change is off by this bound in under one step in a million
    # (a bound from the whole window's 30 samples failed in CI).
    newer_half = at(DetectorSettings().window_s) // 2
    assert events[0][0].delta_g == pytest.approx(
        delta_g, abs=max(1.0, 6 * noise_g / newer_half ** 0.5))


def test_the_tail_of_a_hand_lifting_off_does_not_bias_the_settled_change():
    # The plate looks quiet while the last of the hand's force fades; the first quiet window
    # then still holds part of it. Measured over many picks the change must not lean.
    errors = []
    for seed in range(20):
        signal = resting(5, [2000, 1500, 1000, 500], noise_g=3.0, seed=seed)
        hand(signal, 1, 1.5, 0.8, 400)
        fade = np.arange(at(2.3), len(signal))
        signal[fade, 1] += 25.0 * np.exp(-(fade - fade[0]) / (0.1 * RATE_HZ))
        signal[at(2.0):, 1] -= 455
        _, events = run(signal)
        assert [e.slots for e, _ in events] == [(1,)]
        errors.append(events[0][0].delta_g + 455)
    assert abs(np.mean(errors)) < 0.4


def test_a_dropout_right_after_the_hand_does_not_settle_on_its_fading_end():
    signal = resting(5, [2000, 1500, 1000, 500], noise_g=3.0)
    hand(signal, 1, 1.5, 0.8, 400)
    fade = np.arange(at(2.3), len(signal))
    signal[fade, 1] += 10.0 * np.exp(-(fade - fade[0]) / (0.3 * RATE_HZ))
    signal[at(2.0):, 1] -= 455
    signal[at(2.5):at(3.0), 1] = np.nan
    _, events = run(signal)
    assert [e.slots for e, _ in events] == [(1,)]
    assert events[0][0].delta_g == pytest.approx(-455, abs=2.0)


def test_readings_back_after_a_dropout_must_show_the_plate_steady_before_it_settles():
    # The readings come back while the plate still creeps to its final level: with only
    # the newer half of a window to go by, the creep looks like rest and the pick splits.
    signal = resting(6, [2000, 1500, 1000, 500], noise_g=3.0)
    hand(signal, 1, 1.5, 0.8, 400)
    signal[at(2.0):, 1] -= 455
    creep = np.arange(at(2.6), at(3.3))
    signal[creep, 1] += 25.0 * (1 - (creep - creep[0]) / len(creep))
    signal[at(2.3):at(2.6), 1] = np.nan
    _, events = run(signal)
    assert [e.slots for e, _ in events] == [(1,)]
    assert events[0][0].delta_g == pytest.approx(-455, abs=2.5)


def test_a_plate_resting_on_both_sides_of_a_dropout_settles_before_the_next_hand():
    # 0.3 s of rest, 0.35 s without readings, 0.25 s of rest, then the next pick: no window
    # of 0.5 s of samples holds enough rest on both its halves, 0.5 s of readings does.
    signal = resting(7, [2000, 1500, 1000, 500], noise_g=3.0)
    hand(signal, 1, 1.5, 0.8, 400)
    signal[at(1.9):, 1] -= 455
    hand(signal, 1, 3.2, 0.8, 400)
    signal[at(3.6):, 1] -= 455
    signal[at(2.6):at(2.95), 1] = np.nan
    _, events = run(signal)
    assert [e.slots for e, _ in events] == [(1,), (1,)]
    assert [e.delta_g for e, _ in events] == [pytest.approx(-455, abs=3.0)] * 2
    assert events[0][0].detected_ns <= at(3.2) * 1e9 / RATE_HZ
