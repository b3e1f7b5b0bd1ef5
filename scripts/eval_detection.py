"""Scores the overhead detector on the depth frames of simulated bags against the true
positions: precision, recall and median floor-position error, per bag and per camera count
of people in view (crowded scenes apart).

    .venv/bin/python scripts/eval_detection.py [BAG ...]          (default: the sample bags)

A true person counts as in view of a camera when their head (1.5 m up) projects into its
image (recall counts those); a detection is true when it matches a true person within
`--match-m` (one detection per person), in view or just out of it (precision).

Two heads closer than `OVERLAP_M` are two bodies in one place, which no overhead view can
split (bags simulated before 2026-12-01 let walkers pass through each other; the crowd of
`jwo_sim.shoppers` does not). Recall is also printed without
the people in such an overlap ("recall apart"), with how many they were; and of those, over
the people whose head the frame shows ("... and seen"): the depth image at their head top's
pixel (their own height) is their head, not someone or something nearer the camera, nor the
floor past it. The others ("hidden") are out of that camera's sight though in its view; the
overlapping cameras are there for them.

Then the reaches (an arm out, the hand where it is): on the true detections, how many reported
reaches are at the slot that person's hand is out to (precision), and how many frames with a
hand out report it (recall); and per true pick or put, whether some camera saw the taker's
hand at its slot while the weight changed, and whether it saw someone else's there (what can
make fusion give the item to the wrong shopper).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from scipy.optimize import linear_sum_assignment

from jwo_cameras.camera_model import camera_model
from jwo_cameras.detection import DetectorSettings, OverheadDetector, floor_area, shelf_boxes
from jwo_cameras.image_codec import decode
from jwo_common.frames import optical_to_map
from jwo_common.store_config import load_store_config
from jwo_fusion.attribution import slot_front_points
from jwo_sim.bodies import REACH_MOVE_S
from jwo_sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
HEAD_HEIGHT_M = 1.5
# Closer than two adults' heads can be (shoulders are ~0.45 m wide, a chest ~0.25 m deep).
OVERLAP_M = 0.3
CROWDED_IN_VIEW = 5
HEAD_DEPTH_TOLERANCE_M = 0.15
UNMATCHABLE = 1e6
# A reach names a slot when the hand is this near its front on the floor (slots are 0.5 m
# wide); fusion counts it when the weight changes, give or take what attribution allows.
REACH_AT_SLOT_M = 0.3
REACH_BEFORE_S, REACH_AFTER_S = 0.3, 0.2


def true_positions(truth: dict, t_s: float) -> dict[str, tuple[float, float]]:
    positions = {}
    for person, trajectory in truth['trajectories'].items():
        times = trajectory['t_s']
        if times and times[0] <= t_s <= times[-1]:
            positions[person] = (float(np.interp(t_s, times, trajectory['x_m'])),
                                 float(np.interp(t_s, times, trajectory['y_m'])))
    return positions


def in_view(model, to_map: np.ndarray, xy: tuple[float, float]) -> bool:
    optical = np.linalg.inv(to_map) @ [xy[0], xy[1], HEAD_HEIGHT_M, 1.0]
    if optical[2] <= 0.1:
        return False
    u = model.fx * optical[0] / optical[2] + model.cx
    v = model.fy * optical[1] / optical[2] + model.cy
    return 0 <= u < model.width and 0 <= v < model.height


def head_seen(model, to_map: np.ndarray, depth_mm: np.ndarray, xy: tuple[float, float],
              height_m: float) -> bool:
    """Whether the frame shows this person's head: a pixel next to where their head top
    projects holds a depth within HEAD_DEPTH_TOLERANCE_M of it."""
    optical = np.linalg.inv(to_map) @ [xy[0], xy[1], height_m, 1.0]
    if optical[2] <= 0.1:
        return False
    u = int(round(model.fx * optical[0] / optical[2] + model.cx))
    v = int(round(model.fy * optical[1] / optical[2] + model.cy))
    window = depth_mm[max(v - 1, 0):max(v + 2, 0), max(u - 1, 0):max(u + 2, 0)]
    return bool(np.any(np.abs(window * 0.001 - optical[2]) <= HEAD_DEPTH_TOLERANCE_M))


def evaluate_bag(bag: Path, match_m: float) -> dict:
    truth = json.loads((bag / 'ground_truth.json').read_text())
    scenario = load_scenario(bag / 'scenario.yaml')
    config = load_store_config(REPO / scenario.store_config if not
                               Path(scenario.store_config).is_absolute() else
                               scenario.store_config)
    detectors, models = {}, {}
    for camera in config.cameras:
        if camera.depth:
            models[camera.id] = (camera_model(config, camera), optical_to_map(camera))
            # The simulated camera's depth noise, as its calibration would have measured it.
            detectors[camera.id] = OverheadDetector(
                *models[camera.id], shelf_boxes(config), floor_area(config),
                DetectorSettings(depth_noise_mm_at_1m=scenario.faults.depth_noise_mm_at_1m))
    height_of = {f'{shopper.account_token}/{member}': body.height_m
                 for shopper in scenario.shoppers for member, body in enumerate(shopper.bodies)}
    # crowded? -> (true detections, detections, people in view found, people in view,
    #              of those found and in view: the ones apart from everyone else,
    #              the ones whose head the frame shows)
    counts = defaultdict(lambda: np.zeros(8, int))
    errors = defaultdict(list)
    fronts = slot_front_points(config)
    # Reaches: (reported on a true detection, ... at the slot its person reaches into, true
    # detections of someone whose hand is at least half way out, ... reporting it)
    reach_counts = np.zeros(4, int)
    # Per true pick or put: the taker's reach seen at the slot, someone else's seen there.
    taker_seen, other_seen = set(), set()
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic.endswith('/depth/image_raw')]
        for connection, _, raw in reader.messages(connections=connections):
            camera_id = connection.topic.split('/')[2]
            msg = reader.deserialize(raw, connection.msgtype)
            t_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - truth['start_unix_s']
            depth_mm = decode(msg)
            people = detectors[camera_id].detect(depth_mm)
            named = true_positions(truth, t_s)
            everyone = list(named.values())
            visible = [in_view(*models[camera_id], xy) for xy in everyone]
            seen = [v and head_seen(*models[camera_id], depth_mm, xy, height_of[name])
                    for v, (name, xy) in zip(visible, named.items())]
            crowded = sum(visible) >= CROWDED_IN_VIEW
            apart = [all(np.hypot(xy[0] - other[0], xy[1] - other[1]) >= OVERLAP_M
                         for k, other in enumerate(everyone) if k != j)
                     for j, xy in enumerate(everyone)]
            true_detections = found = found_apart = found_seen = 0
            if people and everyone:
                cost = np.linalg.norm(np.array([[p.x_m, p.y_m] for p in people])[:, None, :]
                                      - np.array(everyone)[None, :, :], axis=2)
                # Pairs too far apart to match cost the same whatever their distance, so the
                # assignment makes as many matches as it can instead of pulling a detection
                # off the person it stands on to pair a stray one with them.
                gated = np.where(cost <= match_m, cost, UNMATCHABLE)
                owners = {}         # detection -> the true person it is
                for i, j in zip(*linear_sum_assignment(gated)):
                    if cost[i, j] <= match_m:
                        owners[i] = list(named)[j]
                        # Someone whose head is just out of the image may still be seen.
                        true_detections += 1
                        found += visible[j]
                        found_apart += visible[j] and apart[j]
                        found_seen += seen[j] and apart[j]
                        errors[crowded].append(cost[i, j])
                score_reaches(people, owners, t_s, truth['events'], fronts, reach_counts,
                              taker_seen, other_seen)
            counts[crowded] += (true_detections, len(people), found, sum(visible), found_apart,
                                sum(v and a for v, a in zip(visible, apart)), found_seen,
                                sum(v and a for v, a in zip(seen, apart)))
    return {'counts': counts, 'errors': errors, 'reaches': reach_counts,
            'events': len(truth['events']), 'taker_seen': len(taker_seen),
            'other_seen': len(other_seen)}


def score_reaches(people, owners: dict[int, str], t_s: float, events: list[dict],
                  fronts: dict[str, np.ndarray], reach_counts: np.ndarray,
                  taker_seen: set[int], other_seen: set[int]) -> None:
    """One frame's reaches against the true picks and puts: whose hand is out (at least
    half way, on the way to or from the slot) and into which slot."""
    def at_slot(person, slot_id: str) -> bool:
        return person.reach_point is not None and float(np.hypot(
            *(np.array(person.reach_point[:2]) - fronts[slot_id][:2]))) <= REACH_AT_SLOT_M

    reaching_into = {f'{e["account_token"]}/0': e['slot_id'] for e in events
                     if e['t_start_s'] - REACH_MOVE_S / 2 <= t_s
                     <= e['t_settled_s'] + REACH_MOVE_S / 2}
    for index, name in owners.items():
        person, slot_id = people[index], reaching_into.get(name)
        right = slot_id is not None and at_slot(person, slot_id)
        reach_counts += (person.reach_point is not None, right, slot_id is not None, right)
    for number, event in enumerate(events):
        if event['t_start_s'] - REACH_BEFORE_S <= t_s <= event['t_settled_s'] + REACH_AFTER_S:
            for index, person in enumerate(people):
                if at_slot(person, event['slot_id']):
                    taker = owners.get(index) == f'{event["account_token"]}/0'
                    (taker_seen if taker else other_seen).add(number)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('bags', nargs='*', type=Path,
                        default=[REPO / 'bags' / name for name in
                                 ('london_easy', 'london_crowded', 'london_tricky', 'seattle_easy')])
    parser.add_argument('--match-m', type=float, default=0.3)
    args = parser.parse_args()
    print(f'{"bag":<16} {"scene":<8} {"precision":>9} {"recall":>7} {"median err":>10} '
          f'{"truths":>7} {"recall apart":>12} {"overlapping":>11} {"... and seen":>12} '
          f'{"hidden":>6}')
    results = {}
    for bag in args.bags:
        result = results[bag] = evaluate_bag(bag, args.match_m)
        for crowded in (False, True):
            (true_detections, detections, found, truths, found_apart, truths_apart,
             found_seen, truths_seen) = result['counts'][crowded]
            if truths == 0 and detections == 0:
                continue
            errors = result['errors'][crowded]
            print(f'{bag.name:<16} {"crowded" if crowded else "normal":<8} '
                  f'{true_detections / max(detections, 1):9.3f} {found / max(truths, 1):7.3f} '
                  f'{100 * float(np.median(errors)) if errors else float("nan"):8.1f} cm '
                  f'{truths:7d} {found_apart / max(truths_apart, 1):12.3f} '
                  f'{truths - truths_apart:11d} {found_seen / max(truths_seen, 1):12.3f} '
                  f'{truths_apart - truths_seen:6d}')
    print(f'(crowded: >= {CROWDED_IN_VIEW} people in the camera\'s view; overlapping: in view '
          f'within {OVERLAP_M} m of someone else; hidden: apart, head not in the frame; '
          'targets: precision and recall >= 0.97, median error < 8 cm)')
    print(f'\n{"bag":<16} {"reach precision":>15} {"reach recall":>12} {"events":>6} '
          f'{"taker seen":>10} {"someone else":>12}')
    for bag, result in results.items():
        reported, right, reaching, seen = result['reaches']
        print(f'{bag.name:<16} {right / max(reported, 1):15.3f} {seen / max(reaching, 1):12.3f} '
              f'{result["events"]:6d} {result["taker_seen"]:10d} {result["other_seen"]:12d}')
    print(f'(per true detection: a reach is right at the slot its person\'s hand is out to, '
          f'within {REACH_AT_SLOT_M} m of its front; recall over the frames with the hand at '
          'least half way out. Per pick or put: a reach at its slot while the weight changed, '
          f'-{REACH_BEFORE_S}/+{REACH_AFTER_S} s, on the taker, or on someone else)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
