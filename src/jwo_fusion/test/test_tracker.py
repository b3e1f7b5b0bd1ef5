"""The tracker on hand-made camera frames: overlapping cameras, births, occlusion, exits."""

import numpy as np

from jwo_common.store_config import Zone
from jwo_fusion.tracker import Detection, Tracker, TrackState

ENTRY = {'entry_1': Zone(min_x=0.0, min_y=0.0, max_x=1.5, max_y=1.0)}
EXIT = {'exit_1': Zone(min_x=10.5, min_y=0.0, max_x=12.0, max_y=1.0)}
FRAME_S = 1 / 15


def walk(tracker, paths, seconds, start_s=0.0, cameras=2, hidden=lambda t, i: False, seed=0):
    """Feeds `cameras` overlapping cameras that all see people walking `paths` (functions of
    time -> (x, y)); returns every tracker event."""
    rng = np.random.default_rng(seed)
    events = []
    for step in range(int(seconds / FRAME_S)):
        for camera in range(cameras):
            t_s = start_s + step * FRAME_S + camera * 0.01
            frame = [Detection(*(np.array(path(t_s)) + rng.normal(0, 0.05, 2)), 0.05)
                     for i, path in enumerate(paths) if not hidden(t_s, i)]
            events.append(tracker.update(t_s, frame))
    return events


def straight(start, velocity, t0=0.0):
    return lambda t: (start[0] + velocity[0] * (t - t0), start[1] + velocity[1] * (t - t0))


def test_people_seen_by_two_cameras_make_one_track_each():
    tracker = Tracker(ENTRY, EXIT)
    walk(tracker, [straight((0.5, 0.5), (1.0, 0.4)), straight((1.2, 0.3), (0.8, 1.0))], 3.0)
    live = [t for t in tracker.tracks if t.state == TrackState.CONFIRMED]
    assert len(live) == 2
    assert all(t.birth_gate == 'entry_1' for t in live)


def test_someone_seen_only_away_from_the_entry_is_a_stray_nobody_sees():
    tracker = Tracker(ENTRY, EXIT)
    events = walk(tracker, [straight((5.0, 5.0), (0.5, 0.0))], 2.0)
    assert [(t.birth_gate, t.state) for t in tracker.tracks] == [('', TrackState.CONFIRMED)]
    assert tracker.estimates(2.0) == [] and not any(e.confirmed for e in events)


def test_a_track_started_beside_the_entry_by_a_false_detection_follows_who_comes_in():
    tracker = Tracker(ENTRY, EXIT)
    tracker.update(0.0, [Detection(0.3, -0.25, 0.05)])     # just outside the entry zone
    events = walk(tracker, [straight((0.6, 0.5), (1.0, 0.4), 0.25)], 2.0, start_s=0.25)
    assert [(t.track_id, t.birth_gate, t.state) for t in tracker.tracks] == \
        [('1', 'entry_1', TrackState.CONFIRMED)]
    assert [t.track_id for e in events for t in e.confirmed] == ['1']


def test_a_detection_within_a_body_width_of_a_sure_track_is_still_its_person():
    # Steady frames make the track sure of itself; a detection 0.35 m off its prediction
    # (noise at the edge of a view, or a turn) is still the only person there.
    tracker = Tracker(ENTRY, EXIT)
    for step in range(8):
        tracker.update(step * FRAME_S, [Detection(0.5 + 1.2 * step * FRAME_S, 0.5, 0.05)])
    tracker.update(8 * FRAME_S, [Detection(0.5 + 1.2 * 8 * FRAME_S, 0.85, 0.05)])
    assert [(t.track_id, t.hits) for t in tracker.tracks] == [('1', 9)]


def test_a_stray_split_from_a_coasting_track_goes_back_to_it():
    # A standing shopper seen 0.8 m off (a long step, a blob split by the detector) leaves
    # their track's gate: the detections start a stray, which the track takes back once it
    # coasts, since nobody else was near.
    tracker = Tracker(ENTRY, EXIT)
    walk(tracker, [straight((0.5, 0.5), (1.0, 0.0))], 3.0)
    walk(tracker, [lambda t: (3.5, 0.5)], 2.0, start_s=3.0)
    events = walk(tracker, [straight((3.5, 1.3), (0.0, 1.0), 5.0)], 2.0, start_s=5.0)
    assert [t.track_id for e in events for t in e.reacquired] == ['1']
    assert [(t.track_id, t.state, t.suspects) for t in tracker.tracks] == \
        [('1', TrackState.CONFIRMED, set())]
    assert np.allclose(tracker.tracks[0].position, (3.5, 3.3), atol=0.2)


def test_a_stray_met_by_several_shoppers_keeps_them_as_suspects():
    tracker = Tracker(ENTRY, EXIT)
    walk(tracker, [straight((0.5, 0.5), (1.0, 0.0)), straight((0.5, 0.9), (1.0, 0.0))], 3.0)
    # Both walk on past someone standing where no track was ever born.
    walk(tracker, [straight((3.5, 0.5), (1.0, 0.0), 3.0), straight((3.5, 0.9), (1.0, 0.0), 3.0),
                   lambda t: (4.5, 1.5)], 1.0, start_s=3.0)
    stray = next(t for t in tracker.tracks if not t.birth_gate)
    assert stray.suspects == {'1', '2'}


def test_a_track_coasts_through_an_occlusion_and_keeps_its_id():
    tracker = Tracker(ENTRY, EXIT)
    path = straight((0.5, 0.5), (1.0, 0.5))
    walk(tracker, [path], 6.0, hidden=lambda t, i: 2.0 <= t <= 3.5)
    assert [(t.track_id, t.state) for t in tracker.tracks] == [('1', TrackState.CONFIRMED)]
    assert np.allclose(tracker.tracks[0].position, path(6.0), atol=0.2)


def test_occluded_then_lost_after_max_coast():
    tracker = Tracker(ENTRY, EXIT)
    walk(tracker, [straight((0.5, 0.5), (1.0, 0.0))], 1.0)
    assert tracker.advance(1.4).lost == []
    assert tracker.tracks[0].state == TrackState.OCCLUDED
    lost = tracker.advance(1.0 + tracker.settings.max_coast_s + 0.1).lost
    assert [t.track_id for t in lost] == ['1']


def test_a_lost_person_seen_again_gets_their_track_back():
    tracker = Tracker(ENTRY, EXIT)
    walk(tracker, [straight((0.5, 0.5), (1.0, 0.0))], 1.0)
    tracker.advance(7.0)
    events = walk(tracker, [lambda t: (4.0, 0.8)], 1.0, start_s=7.0)
    assert [t.track_id for e in events for t in e.reacquired] == ['1']
    assert tracker.track('1').state == TrackState.CONFIRMED


def test_crossing_people_keep_their_tracks():
    tracker = Tracker(ENTRY, EXIT)
    # A walks diagonally behind B, 0.4 m from B where their paths cross.
    a, b = straight((0.3, 0.5), (1.0, 0.6)), straight((1.4, 0.9), (0.0, 0.6))
    walk(tracker, [a, b], 4.0, seed=3)
    first, second = sorted(tracker.tracks, key=lambda t: t.born_s)
    assert np.allclose(first.position, a(4.0), atol=0.3)
    assert np.allclose(second.position, b(4.0), atol=0.3)


def test_exit_zone_ends_the_track():
    tracker = Tracker(ENTRY, EXIT)
    events = walk(tracker, [lambda t: (0.7, 0.5) if t < 1 else
                            (min(11.0, 0.7 + 1.4 * (t - 1)), 0.5)], 9.0)
    exited = [t for e in events for t in e.exited]
    assert [(t.track_id, t.exit_gate) for t in exited] == [('1', 'exit_1')]
