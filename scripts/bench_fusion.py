#!/usr/bin/env python3
"""Benchmark: 50 shoppers seen by 24 overhead cameras (15 fps), tracked by jwo_fusion on one
core; prints how much faster than real time it runs.

    .venv/bin/python scripts/bench_fusion.py [--shoppers 50] [--seconds 90]

The store is the London one stretched to 30 x 16 m with a 6 x 4 grid of its depth camera at
4.5 m. Shoppers enter through the entry gate 0.5 s apart and walk between random points,
pausing now and then. Detections are synthesised beforehand (jwo_fusion.synthetic_detections,
with noise, misses and false positives), so only fusion is timed: every camera frame, ageing
the tracks and reading every shopper's estimate at 10 Hz (what the node publishes).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from jwo_common.store_config import parse_store_config
from jwo_fusion.fusion import StoreFusion
from jwo_fusion.identity import EntryScan
from jwo_fusion.synthetic_detections import CameraView, DetectionNoise, synthesise_frame

ROOT = Path(__file__).resolve().parents[1]
FLOOR_X_M, FLOOR_Y_M, COLUMNS, ROWS = 30.0, 16.0, 6, 4
PUBLISH_HZ = 10.0


def large_store():
    path = ROOT / 'config/london/store.yaml'
    data = yaml.safe_load(path.read_text())
    model = next(c for c in data['cameras'] if c['depth'])
    data['floor'] = dict(min_x=0.0, min_y=0.0, max_x=FLOOR_X_M, max_y=FLOOR_Y_M)
    data['cameras'] = [dict(model, id=f'cam_{r}{c}', mount=dict(
        model['mount'], x=(c + 0.5) * FLOOR_X_M / COLUMNS, y=(r + 0.5) * FLOOR_Y_M / ROWS, z=4.5))
        for r in range(ROWS) for c in range(COLUMNS)]
    for gate in data['gates']:
        gate.pop('scanner_camera', None)
        if gate['kind'] == 'exit':
            gate['zone'] = dict(min_x=FLOOR_X_M - 1.5, min_y=0.0, max_x=FLOOR_X_M, max_y=1.0)
    return parse_store_config(data, path)


def walkers(rng, count, seconds):
    """(count, steps) positions at 100 Hz: enter 0.5 s apart, then random waypoints."""
    dt = 0.01
    steps = int(seconds / dt)
    xy = np.full((count, steps, 2), np.nan)
    for person in range(count):
        start = int(person * 0.5 / dt)
        position = np.array([0.75, 0.5])
        target = position
        pause = 0
        for step in range(start, steps):
            if pause:
                pause -= 1
            elif np.linalg.norm(target - position) < 0.05:
                target = rng.uniform([1.0, 1.0], [FLOOR_X_M - 2.0, FLOOR_Y_M - 1.0])
                pause = int(rng.uniform(0, 3) / dt) if rng.random() < 0.5 else 0
            else:
                heading = target - position
                position = position + heading / np.linalg.norm(heading) * min(
                    1.2 * dt, np.linalg.norm(heading))
            xy[person, step] = position
    return xy, dt


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--shoppers', type=int, default=50)
    parser.add_argument('--seconds', type=float, default=90.0)
    args = parser.parse_args(argv)
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rng = np.random.default_rng(1)
    config = large_store()
    xy, dt = walkers(rng, args.shoppers, args.seconds)
    noise = DetectionNoise()
    views = [CameraView(c) for c in config.cameras if c.depth]
    inputs = []
    for view in views:
        period = 1.0 / view.camera.fps
        for t_s in np.arange(rng.uniform(0, period), args.seconds, period):
            here = xy[:, int(t_s / dt)]
            present = here[~np.isnan(here[:, 0])]
            inputs.append((float(t_s), 1, synthesise_frame(view, present, [None] * len(present),
                                                           rng, noise)))
    for person in range(args.shoppers):
        inputs.append((person * 0.5, 0, EntryScan(f'entry-{person}', f'entry-{person}',
                                                  'entry_1', f'acct-{person}', 1, person * 0.5)))
    for t_s in np.arange(0.0, args.seconds, 1.0 / PUBLISH_HZ):
        inputs.append((float(t_s), 2, None))
    inputs.sort(key=lambda item: (item[0], item[1]))
    detections = sum(len(p) for _, kind, p in inputs if kind == 1)
    frames = sum(1 for _, kind, _ in inputs if kind == 1)

    fusion = StoreFusion(config)
    started = time.process_time()
    for t_s, kind, payload in inputs:
        if kind == 0:
            fusion.on_entry(payload)
        elif kind == 1:
            fusion.on_detections(t_s, payload)
        else:
            fusion.advance(t_s)
            fusion.shoppers(t_s)
    cpu_s = time.process_time() - started
    tracked = sum(1 for s in fusion.shoppers() if s.session_id)
    print(f'{args.shoppers} shoppers, {len(views)} cameras at {views[0].camera.fps:.0f} fps, '
          f'{args.seconds:.0f} s of store time: {frames} frames, {detections} detections')
    print(f'tracked with an account at the end: {tracked}/{args.shoppers}')
    print(f'fusion CPU time on one core: {cpu_s:.2f} s -> {args.seconds / cpu_s:.1f}x real time')
    return 0


if __name__ == '__main__':
    sys.exit(main())
