#!/usr/bin/env python3
"""Benchmark: exit -> capture latency of the billing node, end to end.

Starts the billing node as a real process on a fresh ledger (London demo store), opens
`--sessions` sessions with a cart each, then sends their exit events at `--rate-hz` and
times each from publishing the exit to receiving its CAPTURED receipt on /receipts
(signature check, ledger writes with fsync, the sandbox capture, and loopback DDS both
ways). Entries and exits are signed as the gate and fusion sign them. Prints p50/p99/max
and the rate achieved.

    .venv/bin/python scripts/bench_billing.py [--sessions 100] [--rate-hz 20]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / 'config' / 'london' / 'store.yaml'


def recorded_carts(ledger_path: Path) -> int:
    if not ledger_path.exists():
        return 0
    db = sqlite3.connect(ledger_path)
    try:
        return db.execute("SELECT count(*) FROM entries WHERE step = 'cart:1'").fetchone()[0]
    except sqlite3.OperationalError:     # the node is still creating the schema
        return 0
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sessions', type=int, default=100)
    parser.add_argument('--rate-hz', type=float, default=20.0, help='exits per second')
    args = parser.parse_args()

    from jwo_common.testing import (claim_ros_domain, interrupt_and_wait, node_process,
                                    spin_until, store_signer, wall_clock_ns)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from jwo_billing.billing_node import RECEIPTS_QOS
    from jwo_common.keys_cli import init as init_keystore
    from jwo_common.qos import EVENTS
    from jwo_common.signed_messages import sign_gate_event
    from jwo_common.store_config import load_store_config
    from jwo_interfaces.msg import Cart, CartItem, GateEvent, Receipt

    config = load_store_config(STORE)
    init_keystore(str(STORE), ['staff'])
    gate_signer = store_signer(STORE, 'entry_1', 'gate')
    fusion_signer = store_signer(STORE, 'fusion', 'fusion')

    def signed(event: GateEvent, signer) -> GateEvent:
        sign_gate_event(signer, event, wall_clock_ns())
        return event
    skus = [p.sku for p in config.products if not p.age_restricted]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix='jwo-bench-billing-') as directory:
        ledger_path = Path(directory) / 'ledger.sqlite3'
        process = node_process('jwo_billing.billing_node', ros_args=[
            '-p', f'store_config:={STORE}', '-p', f'ledger_path:={ledger_path}'])
        rclpy.init()
        node = rclpy.create_node('billing_bench')
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        gates = node.create_publisher(GateEvent, '/gates/events', EVENTS)
        carts = node.create_publisher(Cart, '/carts', EVENTS)
        received: dict[str, float] = {}
        statuses: dict[str, int] = {}

        def on_receipt(receipt: Receipt) -> None:
            received.setdefault(receipt.session_id, time.perf_counter())
            statuses[receipt.session_id] = receipt.status
        node.create_subscription(Receipt, '/receipts', on_receipt, RECEIPTS_QOS)
        try:
            spin_until(executor, lambda: gates.get_subscription_count() > 0 and
                       carts.get_subscription_count() > 0, 60, 'the billing node')
            sessions = [f'bench-{i:04d}' for i in range(args.sessions)]
            for session_id in sessions:
                gates.publish(signed(GateEvent(
                    event_id=session_id, gate_id='entry_1', kind=GateEvent.ENTRY,
                    session_id=session_id, account_token=f'acct-{session_id}', party_size=1),
                    gate_signer))
                carts.publish(Cart(store_id=config.store.id, session_id=session_id, revision=1,
                                   items=[CartItem(sku=sku, quantity=rng.randint(1, 3))
                                          for sku in rng.sample(skus, 3)]))
                executor.spin_once(timeout_sec=0.001)
            spin_until(executor, lambda: recorded_carts(ledger_path) == len(sessions), 120,
                       'every cart in the ledger')
            sent: dict[str, float] = {}
            start = time.perf_counter()
            for i, session_id in enumerate(sessions):
                while time.perf_counter() < start + i / args.rate_hz:
                    executor.spin_once(timeout_sec=0.001)
                sent[session_id] = time.perf_counter()
                gates.publish(signed(GateEvent(event_id=f'x-{session_id}', gate_id='exit_1',
                                               kind=GateEvent.EXIT, session_id=session_id,
                                               party_size=1), fusion_signer))
            spin_until(executor, lambda: len(received) == len(sessions), 120, 'every receipt')
            elapsed_s = max(received.values()) - start
        finally:
            interrupt_and_wait(process)
            executor.shutdown()
            node.destroy_node()
            rclpy.try_shutdown()

    latencies_ms = sorted((received[s] - sent[s]) * 1000 for s in sessions)
    captured = sum(1 for s in sessions if statuses[s] == Receipt.CAPTURED)
    p99 = latencies_ms[min(len(latencies_ms) - 1, round(0.99 * len(latencies_ms)) - 1)]
    print(f'{len(sessions)} sessions, exits at {args.rate_hz:g}/s, {captured} captured, '
          f'{len(sessions) / elapsed_s:.1f} sessions/s')
    print(f'exit -> capture (receipt received): p50 {statistics.median(latencies_ms):.1f} ms, '
          f'p99 {p99:.1f} ms, max {latencies_ms[-1]:.1f} ms')


if __name__ == '__main__':
    main()
