"""Benchmarks the simulator: a 60 s scenario with 10 shoppers seen by 4 overhead depth
cameras of 320 x 240 at 15 fps (plus the gate camera and the load cells), simulated and
written to an MCAP bag. Prints the real-time factor (> 1: faster than real time) and CPU.

    .venv/bin/python scripts/bench_render.py [--store config/london/store.yaml]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from jwo_common.store_config import load_store_config
from jwo_sim.bag_writer import write_bag
from jwo_sim.scenario import generate_scenario
from jwo_sim.simulation import simulate

REPO = Path(__file__).resolve().parents[1]


def four_d435_cameras(config):
    """The store with its overhead cameras replaced by four D435s at 320 x 240, 4.5 m up,
    one per quarter of the floor."""
    overhead = [c for c in config.cameras if c.depth]
    others = [c for c in config.cameras if not c.depth]
    floor = config.floor
    xs = (floor.min_x + (floor.max_x - floor.min_x) * f for f in (0.25, 0.75))
    centres = [(x, y) for x in xs for y in (floor.min_y + (floor.max_y - floor.min_y) * f
                                            for f in (0.25, 0.75))]
    cameras = [overhead[0].model_copy(update={
        'id': f'cam_{i + 1:02d}', 'width': 320, 'height': 240,
        'intrinsics': overhead[0].intrinsics.model_copy(update={
            'fx': 168.6, 'fy': 168.6, 'cx': 159.5, 'cy': 119.5}),
        'mount': overhead[0].mount.model_copy(update={'x': x, 'y': y})})
        for i, (x, y) in enumerate(centres)]
    return config.model_copy(update={'cameras': cameras + others})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', type=Path, default=REPO / 'config' / 'london' / 'store.yaml')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    config = four_d435_cameras(load_store_config(args.store))
    scenario = generate_scenario(config, args.seed, 10, 60.0, 'medium',
                                 store_config_path=args.store)
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    result = simulate(config, scenario)
    simulated = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_bag(result, Path(folder) / 'bench')
        size_mb = sum(p.stat().st_size for p in (Path(folder) / 'bench').rglob('*')) / 1e6
    wall = time.perf_counter() - started_wall
    cpu = time.process_time() - started_cpu
    print(f'60 s, 10 shoppers, 4 depth cameras 320x240 @ 15 fps + gate camera: '
          f'{size_mb:.1f} MB bag')
    print(f'  motion and load cells {simulated - started_wall:.1f} s, rendering and writing '
          f'{wall - (simulated - started_wall):.1f} s; {cpu:.1f} s CPU')
    print(f'  real-time factor: {scenario.duration_s / wall:.2f} (> 1: faster than real time)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
