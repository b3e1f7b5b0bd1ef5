#!/usr/bin/env python3
"""Benchmark: how much faster than real time the shelf event pipeline processes a store.

Builds a store of `--slots` load-cell plates at 60 Hz (the demo store's shelves repeated),
with noise, a hand transient and a pick or put on every shelf every few seconds and 1 %
missing readings, then feeds it in 100 ms batches per shelf through the same code the
event node runs, pinned to one core. Prints the real-time ratio (seconds of data per
wall-clock second).

    .venv/bin/python scripts/bench_shelves.py [--slots 600] [--seconds 60] [--ros]

--ros also runs it through the real ShelfEventsNode: a publisher in this process sends
the batches as LoadCellReadings over loopback DDS and the ratio counts the messaging.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RATE_HZ = 60.0
BATCH = 6                        # samples per message: 100 ms at 60 Hz


def shelves_of(config, slot_count: int):
    """Copies of the store's shelves (renamed) until there are `slot_count` plates."""
    from jwo_common.store_config import Shelf
    shelves = []
    total = 0
    while total < slot_count:
        for template in config.shelves:
            if total >= slot_count:
                break
            n = len(shelves)
            keep = template.slots[:slot_count - total]
            slots = [slot.model_copy(update={'id': f's{n}_{slot.id}'}) for slot in keep]
            shelves.append(template.model_copy(update={'id': f'shelf_{n}', 'slots': slots}))
            total += len(slots)
    return [Shelf.model_validate(s.model_dump()) for s in shelves]


def make_signal(config, shelf, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = round(seconds * RATE_HZ)
    slots = sorted(shelf.slots, key=lambda s: s.channel)
    grams = rng.uniform(500, 4000, len(slots)) + rng.normal(0, 0.8, (n, len(slots)))
    t = np.arange(n) / RATE_HZ
    for start in np.arange(2.0, seconds - 2.0, rng.uniform(3.0, 6.0)):
        plate = rng.integers(len(slots))
        unit = config.product(slots[plate].product).unit_weight_g
        touch = (t >= start) & (t < start + 0.5)
        grams[touch, plate] += 200 * np.sin(np.pi * (t[touch] - start) / 0.5)
        grams[t >= start + 0.4, plate] += unit * rng.choice([-2, -1, 1])
    grams[rng.random(grams.shape) < 0.01] = np.nan
    return grams.astype(np.float32)


def bench_core(config, shelves, signals, seconds: float) -> tuple[float, int]:
    from jwo_common.store_config import StoreConfig
    from jwo_shelves.planogram import ShelfPlanogram
    from jwo_shelves.shelf_monitor import ShelfMonitor
    store = StoreConfig.model_construct(**{**dict(config), 'shelves': shelves})
    monitors = [ShelfMonitor(ShelfPlanogram.from_config(store, s.id)) for s in shelves]
    slot_ids = [m.planogram.slot_ids for m in monitors]
    events = 0
    began = time.perf_counter()
    for first in range(0, round(seconds * RATE_HZ), BATCH):
        start_ns = round(first * 1e9 / RATE_HZ)
        for monitor, ids, grams in zip(monitors, slot_ids, signals):
            events += len(monitor.process(ids, start_ns, RATE_HZ, grams[first:first + BATCH]))
    return time.perf_counter() - began, events


def bench_ros(config, shelves, signals, seconds: float) -> tuple[float, int, int]:
    import rclpy
    import yaml
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from jwo_common.qos import EVENTS
    from jwo_common.testing import claim_ros_domain, spin_until
    from jwo_interfaces.msg import LoadCellReadings, ShelfEvent
    from jwo_shelves.messages import load_cell_readings
    from jwo_shelves.shelf_events_node import ShelfEventsNode

    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
    data = config.model_dump(mode='json', exclude={'source_path'})
    data['shelves'] = [s.model_dump(mode='json') for s in shelves]
    store_file = Path(os.environ.get('TMPDIR', '/tmp')) / f'jwo-bench-store-{os.getpid()}.yaml'
    store_file.write_text(yaml.safe_dump(data))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = ShelfEventsNode(context=context, parameter_overrides=[
            Parameter('store_config', value=str(store_file))])
        feeder = rclpy.create_node('bench_feeder', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(feeder)
        events = []
        feeder.create_subscription(ShelfEvent, '/shelves/events', events.append, EVENTS)
        publishers = [feeder.create_publisher(LoadCellReadings, f'/shelves/{s.id}/load_cells', 100)
                      for s in shelves]
        spin_until(executor, lambda: all(p.get_subscription_count() for p in publishers), 30,
                   'the event node to subscribe')
        slot_ids = [[slot.id for slot in sorted(s.slots, key=lambda s: s.channel)]
                    for s in shelves]
        received = lambda: sum(s.health.total_samples for s in node._shelves.values())  # noqa: E731
        produced = lambda: sum(sum(s.events.values()) for s in node._shelves.values())  # noqa: E731
        sent = 0
        began = time.perf_counter()
        for first in range(0, round(seconds * RATE_HZ), BATCH):
            start_ns = round(first * 1e9 / RATE_HZ)
            for publisher, shelf, ids, grams in zip(publishers, shelves, slot_ids, signals):
                chunk = grams[first:first + BATCH]
                publisher.publish(load_cell_readings(shelf.id, f'{shelf.id}_link', ids, RATE_HZ,
                                                     start_ns, chunk))
                sent += chunk.shape[0]
            # Let the node and the event listener catch up each 100 ms of data so no
            # queue overflows.
            spin_until(executor, lambda: received() >= sent and len(events) >= produced(), 30,
                       'the node to take every batch and its events to arrive')
        elapsed = time.perf_counter() - began
        return elapsed, len(events), sent
    finally:
        context.try_shutdown()
        store_file.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', default=str(ROOT / 'config' / 'london' / 'store.yaml'))
    parser.add_argument('--slots', type=int, default=600)
    parser.add_argument('--seconds', type=float, default=60.0)
    parser.add_argument('--ros', action='store_true', help='also through the ROS node')
    args = parser.parse_args()
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})      # one core, DDS threads included
    print(f'pinned to CPU {core}')
    from jwo_common.store_config import load_store_config
    config = load_store_config(args.store)
    shelves = shelves_of(config, args.slots)
    rng = np.random.default_rng(7)
    signals = [make_signal(config, s, args.seconds, rng) for s in shelves]
    print(f'{args.slots} slots on {len(shelves)} shelves at {RATE_HZ:.0f} Hz, '
          f'{args.seconds:.0f} s of samples, {BATCH}-sample batches')
    wall_s, events = bench_core(config, shelves, signals, args.seconds)
    print(f'core:     {wall_s:6.2f} s for {args.seconds:.0f} s of data -> '
          f'{args.seconds / wall_s:5.1f}x real time ({events} events)')
    if args.ros:
        wall_s, events, samples = bench_ros(config, shelves, signals, args.seconds)
        print(f'ros node: {wall_s:6.2f} s, publisher and node in this process -> '
              f'{args.seconds / wall_s:5.1f}x real time ({events} events, {samples} of '
              f'{round(args.seconds * RATE_HZ) * len(shelves)} shelf samples delivered)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
