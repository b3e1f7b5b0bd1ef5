"""Scores the overhead detector on the depth frames of simulated bags against the true
positions: precision, recall and median floor-position error, per bag and per camera count
of people in view (crowded scenes apart).

    .venv/bin/python scripts/eval_detection.py [BAG ...]          (default: the sample bags)

A true person counts as in view of a camera when their head (1.5 m up) projects into its
image (recall counts those); a detection is true when it matches a true person within
`--match-m` (one detection per person), in view or just out of it (precision).

The simulator lets walkers pass through each other; two heads closer than `OVERLAP_M` are
two bodies in one place, which no overhead view can split. Recall is also printed without
the people in such an overlap ("recall apart"), with how many they were.
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
from jwo_cameras.detection import OverheadDetector, floor_area, shelf_boxes
from jwo_cameras.image_codec import decode
from jwo_common.frames import optical_to_map
from jwo_common.store_config import load_store_config
from jwo_sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
HEAD_HEIGHT_M = 1.5
# Closer than two adults' heads can be (shoulders are ~0.45 m wide, a chest ~0.25 m deep).
OVERLAP_M = 0.3
CROWDED_IN_VIEW = 5


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
            detectors[camera.id] = OverheadDetector(*models[camera.id], shelf_boxes(config),
                                                    floor_area(config))
    # crowded? -> (true detections, detections, people in view found, people in view,
    #              of those found and in view: the ones apart from everyone else)
    counts = defaultdict(lambda: np.zeros(6, int))
    errors = defaultdict(list)
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic.endswith('/depth/image_raw')]
        for connection, _, raw in reader.messages(connections=connections):
            camera_id = connection.topic.split('/')[2]
            msg = reader.deserialize(raw, connection.msgtype)
            t_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 - truth['start_unix_s']
            people = detectors[camera_id].detect(decode(msg))
            everyone = list(true_positions(truth, t_s).values())
            visible = [in_view(*models[camera_id], xy) for xy in everyone]
            crowded = sum(visible) >= CROWDED_IN_VIEW
            apart = [all(np.hypot(xy[0] - other[0], xy[1] - other[1]) >= OVERLAP_M
                         for k, other in enumerate(everyone) if k != j)
                     for j, xy in enumerate(everyone)]
            true_detections = found = found_apart = 0
            if people and everyone:
                cost = np.linalg.norm(np.array([[p.x_m, p.y_m] for p in people])[:, None, :]
                                      - np.array(everyone)[None, :, :], axis=2)
                for i, j in zip(*linear_sum_assignment(cost)):
                    if cost[i, j] <= match_m:
                        # Someone whose head is just out of the image may still be seen.
                        true_detections += 1
                        found += visible[j]
                        found_apart += visible[j] and apart[j]
                        errors[crowded].append(cost[i, j])
            counts[crowded] += (true_detections, len(people), found, sum(visible), found_apart,
                                sum(v and a for v, a in zip(visible, apart)))
    return {'counts': counts, 'errors': errors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('bags', nargs='*', type=Path,
                        default=[REPO / 'bags' / name for name in
                                 ('london_easy', 'london_crowded', 'london_tricky', 'seattle_easy')])
    parser.add_argument('--match-m', type=float, default=0.3)
    args = parser.parse_args()
    print(f'{"bag":<16} {"scene":<8} {"precision":>9} {"recall":>7} {"median err":>10} '
          f'{"truths":>7} {"recall apart":>12} {"overlapping":>11}')
    for bag in args.bags:
        result = evaluate_bag(bag, args.match_m)
        for crowded in (False, True):
            true_detections, detections, found, truths, found_apart, truths_apart = \
                result['counts'][crowded]
            if truths == 0 and detections == 0:
                continue
            errors = result['errors'][crowded]
            print(f'{bag.name:<16} {"crowded" if crowded else "normal":<8} '
                  f'{true_detections / max(detections, 1):9.3f} {found / max(truths, 1):7.3f} '
                  f'{100 * float(np.median(errors)) if errors else float("nan"):8.1f} cm '
                  f'{truths:7d} {found_apart / max(truths_apart, 1):12.3f} '
                  f'{truths - truths_apart:11d}')
    print(f'(crowded: >= {CROWDED_IN_VIEW} people in the camera\'s view; overlapping: in view '
          f'within {OVERLAP_M} m of someone else; targets: precision and recall >= 0.97, median '
          'error < 8 cm)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
