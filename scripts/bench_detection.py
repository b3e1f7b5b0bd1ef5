"""Benchmarks the overhead detector: can it keep up with 24 depth cameras of 320 x 240 at
15 fps on this machine? Prints the real-time factor (> 1 keeps up) of one process with every
camera, and of `--processes` processes sharing the cameras (as the stack runs detection for
24 cameras: two processes, one per core).

    .venv/bin/python scripts/bench_detection.py [--bag bags/london_crowded] [--cameras 24]
        [--processes 2]

Frames are the bag's rendered depth frames (people, shelves, holes), enlarged to 320 x 240
with the matching intrinsics (same field of view); camera c runs with the mount pose of the
store camera it was rendered from, so every detector sees a consistent scene.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader

from jwo_cameras.camera_model import CameraModel, camera_model
from jwo_cameras.detection import OverheadDetector, floor_area, shelf_boxes
from jwo_cameras.image_codec import decode
from jwo_common.frames import optical_to_map
from jwo_common.store_config import load_store_config
from jwo_sim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]
# What the worker processes time: set before they fork, so the frames are not copied over.
_SHARES: list[list] = []
_FRAMES: dict[str, list[np.ndarray]] = {}


def detect_share(share: int, frames_per_camera: int) -> int:
    """Runs the detectors of `share` over their frames; how many people they found."""
    people = 0
    for frame in range(frames_per_camera):
        for camera_id, detector in _SHARES[share]:
            stream = _FRAMES[camera_id]
            people += len(detector.detect(stream[(frame * 7) % len(stream)]))
    return people


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--bag', type=Path, default=REPO / 'bags' / 'london_crowded')
    parser.add_argument('--cameras', type=int, default=24)
    parser.add_argument('--fps', type=float, default=15.0)
    parser.add_argument('--frames', type=int, default=60, help='frames per camera to time')
    parser.add_argument('--processes', type=int, default=2)
    args = parser.parse_args()
    config = load_store_config(REPO / load_scenario(args.bag / 'scenario.yaml').store_config)
    frames = _FRAMES
    with AnyReader([args.bag]) as reader:
        connections = [c for c in reader.connections if c.topic.endswith('/depth/image_raw')]
        for connection, _, raw in reader.messages(connections=connections):
            camera_id = connection.topic.split('/')[2]
            image = decode(reader.deserialize(raw, connection.msgtype))
            scale = 320 // image.shape[1]
            frames.setdefault(camera_id, []).append(
                np.repeat(np.repeat(image, scale, axis=0), scale, axis=1))
    sources = sorted(frames)
    detectors = []
    for index in range(args.cameras):
        camera = config.camera(sources[index % len(sources)])
        small = camera_model(config, camera)
        scale = 320 / small.width
        model = CameraModel(320, 240, small.fx * scale, small.fy * scale,
                            (small.cx + 0.5) * scale - 0.5, (small.cy + 0.5) * scale - 0.5)
        detectors.append((camera.id, OverheadDetector(model, optical_to_map(camera),
                                                      shelf_boxes(config), floor_area(config))))
    _SHARES[:] = [detectors]
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    people = detect_share(0, args.frames)
    wall = time.perf_counter() - started_wall
    cpu = time.process_time() - started_cpu
    count = args.frames * args.cameras
    needed_s = count / (args.cameras * args.fps)        # sim seconds these frames cover
    print(f'{args.cameras} cameras x {args.frames} frames of 320x240 depth ({count} frames, '
          f'{people} people found)')
    print(f'  {1000 * wall / count:.2f} ms/frame wall, {1000 * cpu / count:.2f} ms/frame CPU')
    print(f'  real-time factor at {args.fps:g} fps, one process: {needed_s / wall:.2f} '
          f'(> 1 keeps up)')
    _SHARES[:] = [detectors[share::args.processes] for share in range(args.processes)]
    with multiprocessing.get_context('fork').Pool(args.processes) as pool:
        started_wall = time.perf_counter()
        found = pool.starmap(detect_share, [(share, args.frames)
                                            for share in range(args.processes)])
        wall = time.perf_counter() - started_wall
    print(f'  real-time factor, {args.processes} processes sharing the cameras: '
          f'{needed_s / wall:.2f} ({sum(found)} people found)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
