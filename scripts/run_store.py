"""The main job: runs the whole stack of a store on a recorded bag and scores what it charged.

    .venv/bin/python scripts/run_store.py [--store config/london/store.yaml] [--bag DIR]

Brings the stack up with `jwo_launch`'s launcher (nodes on sim time), plays the bag, collects
what the stack published (receipts, tracked shoppers, review requests), stops the stack,
then prints each shopper's charged receipt beside the true one, a score table, and writes a
PNG of the floor with the true paths, the tracks and the shelf events to `--out`.
The bag defaults to the store's committed sample (`bags/<store folder>_easy`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

from jwo_common.dds import use_stack_dds_profile
from jwo_common.testing import claim_ros_domain

REPO = Path(__file__).resolve().parents[1]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', type=Path, default=REPO / 'config' / 'london' / 'store.yaml')
    parser.add_argument('--bag', type=Path, help='bag with ground_truth.json beside it')
    parser.add_argument('--rate', type=float, default=1.0, help='bag playback speed')
    parser.add_argument('--out', type=Path, help='folder for the plot, receipts, ledger and logs '
                        '(default out/<store id>)')
    parser.add_argument('--settle-s', type=float, default=20.0,
                        help='after the bag: seconds to wait for the last receipts')
    parser.add_argument('--params-file', type=Path,
                        help="ROS parameters YAML for every node (e.g. the store's params.yaml "
                        'with image_qos: reliable)')
    return parser.parse_args()


class Collector:
    """A probe node that keeps what the stack publishes."""

    def __init__(self, node, start_unix_s: float):
        from jwo_billing.billing_node import RECEIPTS_QOS
        from jwo_common.qos import EVENTS, sensor_qos
        from jwo_interfaces.msg import (Receipt, ReviewRequest, ShelfEvent,
                                        TrackedShopperArray)
        from diagnostic_msgs.msg import DiagnosticArray
        from rosgraph_msgs.msg import Clock
        self._start = start_unix_s
        self.receipts: dict[str, Receipt] = {}
        self.tracks = []
        self.shelf_events = []
        self.reviewed_sessions: set[str] = set()
        self.review_requests = 0
        self.sim_time_s = 0.0
        # camera id -> (frames received, frames missing), as detection and the gate count them
        self.camera_frames: dict[str, tuple[int, int]] = {}
        node.create_subscription(Receipt, '/receipts',
                                 lambda m: self.receipts.setdefault(m.receipt_id, m), RECEIPTS_QOS)
        node.create_subscription(TrackedShopperArray, '/shoppers/tracked', self._on_tracked,
                                 sensor_qos('reliable'))
        node.create_subscription(ShelfEvent, '/shelves/events', self.shelf_events.append, EVENTS)
        node.create_subscription(ReviewRequest, '/review/requests', self._on_review, EVENTS)
        node.create_subscription(Clock, '/clock', self._on_clock, 10)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 100)

    def _seconds(self, stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9 - self._start

    def _on_clock(self, msg) -> None:
        self.sim_time_s = self._seconds(msg.clock)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'received_frames' in values and 'missing_frames' in values:
                self.camera_frames[status.hardware_id] = (int(values['received_frames']),
                                                          int(values['missing_frames']))

    def _on_tracked(self, msg) -> None:
        from jwo_interfaces.msg import TrackedShopper
        from jwo_sim.scoring import TrackSample
        t_s = self._seconds(msg.header.stamp)
        # A track that has left is no claim that someone stands on the floor.
        self.tracks += [TrackSample(t_s, s.track_id, s.pose.pose.position.x,
                                    s.pose.pose.position.y) for s in msg.shoppers
                        if s.state != TrackedShopper.EXITED]

    def _on_review(self, msg) -> None:
        self.review_requests += 1
        self.reviewed_sessions.update(c.session_id for c in msg.candidates if c.session_id)

    def charged_receipts(self):
        from jwo_interfaces.msg import Receipt
        from jwo_sim.scoring import ADJUSTMENT, REFUND, SALE, ChargedReceipt
        kinds = {Receipt.SALE: SALE, Receipt.REFUND: REFUND, Receipt.ADJUSTMENT: ADJUSTMENT}
        return [ChargedReceipt(r.session_id, r.account_token, kinds[r.kind],
                               r.status == Receipt.CAPTURED, r.status == Receipt.HELD,
                               {line.sku: abs(line.quantity) for line in r.lines}, r.total_minor)
                for r in self.receipts.values()]


def units_text(units: dict[str, int]) -> str:
    return ', '.join(f'{n} x {sku}' for sku, n in sorted(units.items())) or '(nothing)'


def print_report(score, currency: str, exponent: int) -> None:
    from jwo_billing.ledger_cli import format_minor

    def money(minor: int) -> str:
        return format_minor(minor, currency, exponent)
    print('\nper shopper: charged vs true')
    for shopper in score.shoppers:
        mark = 'ok ' if shopper.exact else 'BAD'
        held = ' (held for staff)' if shopper.held else ''
        print(f'  {mark} {shopper.account_token}: charged '
              f'{money(shopper.charged_total_minor)} '
              f'[{units_text(shopper.charged_units)}]{held}')
        print(f'      {"":<{len(shopper.account_token)}}  true    '
              f'{money(shopper.true_total_minor)} '
              f'[{units_text(shopper.true_units)}]')
    rows = [('receipt exact-match rate', f'{score.exact_match_rate:.1%}'),
            ('item precision', f'{score.item_precision:.3f}'),
            ('item recall', f'{score.item_recall:.3f}'),
            ('tracking IDF1', f'{score.idf1:.3f}'),
            ('review rate (sessions sent to review / shoppers)', f'{score.review_rate:.1%}'),
            ('charges captured', str(score.charges)),
            ('receipts held for staff (age check, review)', str(score.held)),
            ('charged (captured + held) / owed',
             f'{money(score.charged_minor)} / {money(score.owed_minor)}')]
    width = max(len(name) for name, _ in rows)
    print('\nscore')
    for name, value in rows:
        print(f'  {name:<{width}}  {value}')


def print_frame_delivery(camera_frames: dict[str, tuple[int, int]], config) -> None:
    """Camera frames that never reached detection or the gate: dropped in the recording, or
    lost on the way (a transport or a host that cannot keep up)."""
    if not camera_frames:
        return
    print('\ncamera frames missing on arrival (dropped in the recording, or lost on the way)')
    depth = [camera_frames[c.id] for c in config.cameras if c.depth and c.id in camera_frames]
    others = [c.id for c in config.cameras if not c.depth and c.id in camera_frames]
    rows = ([('depth cameras', *map(sum, zip(*depth)))] if depth else []) + \
        [(camera_id, *camera_frames[camera_id]) for camera_id in others]
    for name, received, missing in rows:
        share = missing / max(received + missing, 1)
        print(f'  {name:<14} {missing} of {received + missing} ({share:.1%})')


def plot(path: Path, config, truth: dict, collector) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle

    from jwo_common.frames import shelf_to_map

    def box(area, **style):
        return Rectangle((area.min_x, area.min_y), area.max_x - area.min_x,
                         area.max_y - area.min_y, **style)
    figure, axes = plt.subplots(figsize=(10, 8))
    axes.add_patch(box(config.floor, fill=False, color='black'))
    for shelf in config.shelves:
        corners = [(0, 0), (shelf.width_m, 0), (shelf.width_m, shelf.depth_m), (0, shelf.depth_m)]
        transform = shelf_to_map(shelf)
        points = [(transform @ [x, y, 0, 1])[:2] for x, y in corners]
        axes.add_patch(Polygon(points, closed=True, color='tan', alpha=0.6))
    for gate in config.gates:
        axes.add_patch(box(gate.zone, alpha=0.3,
                           color='green' if gate.kind == 'entry' else 'red'))
    for person, trajectory in truth['trajectories'].items():
        axes.plot(trajectory['x_m'], trajectory['y_m'], '--', lw=1, color='grey')
    by_track = defaultdict(list)
    for sample in collector.tracks:
        by_track[sample.track_id].append((sample.x_m, sample.y_m))
    for track_id, points in by_track.items():
        xs, ys = zip(*points)
        axes.plot(xs, ys, lw=1.5, label=f'track {track_id}')
    for event in truth['events']:
        shelf = config.shelf(event['shelf_id'])
        slot = next(s for s in shelf.slots if s.id == event['slot_id'])
        x, y = (shelf_to_map(shelf) @ [slot.x_m, shelf.depth_m / 2, 0, 1])[:2]
        axes.plot(x, y, 'v' if event['kind'] == 'pick' else '^', color='purple', ms=8)
    axes.set_aspect('equal')
    axes.set_xlabel('x (m, map)')
    axes.set_ylabel('y (m, map)')
    axes.set_title(f'{config.store.name}: true paths (dashed), tracks, true picks/puts')
    if by_track:
        axes.legend(fontsize=7, loc='upper right')
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> int:
    args = parse_arguments()
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
    use_stack_dds_profile()     # the bag player's writers, as the stack's
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from jwo_common.launcher import LaunchError, Stack, interrupt, play_bag
    from jwo_common.store_config import StoreConfigError, load_store_config
    from jwo_sim.scoring import score_store

    try:
        config = load_store_config(args.store)
    except StoreConfigError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    bag = args.bag or REPO / 'bags' / f'{args.store.resolve().parent.name}_easy'
    truth_path = bag / 'ground_truth.json'
    if not truth_path.is_file():
        print(f'error: {truth_path}: no ground truth beside the bag', file=sys.stderr)
        return 1
    truth = json.loads(truth_path.read_text())
    if truth.get('store_id', config.store.id) != config.store.id:
        # Another store's shelves and prices would score every receipt wrong, silently.
        print(f"error: {bag} was recorded in store {truth['store_id']!r}, but {args.store} is "
              f"store {config.store.id!r} (pass that store's config with --store)",
              file=sys.stderr)
        return 1
    out = args.out or REPO / 'out' / config.store.id
    shutil.rmtree(out / 'var', ignore_errors=True)     # a fresh ledger: this run's charges only
    out.mkdir(parents=True, exist_ok=True)
    print(f'store {config.store.id} ({config.store.name}), bag {bag} '
          f'({truth["duration_s"]:.0f} s, {len(truth["shoppers"])} shoppers), '
          f'ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]}')

    rclpy.init()
    probe = rclpy.create_node('jwo_run_store')
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    collector = Collector(probe, truth['start_unix_s'])
    stack = Stack(args.store, 'bag', use_sim_time=True, params_file=args.params_file,
                  var_dir=out / 'var', log_dir=out / 'logs')
    player = None
    failed = None
    try:
        print('starting the stack:')
        stack.start(lambda: set(probe.get_node_names()),
                    lambda s: executor.spin_once(timeout_sec=s))
        player = play_bag(bag, args.rate, stack.log_path('bag_play'))
        shown = -1
        while player.poll() is None:
            stack.check_alive()
            executor.spin_once(timeout_sec=0.1)
            percent = int(100 * collector.sim_time_s / truth['duration_s']) // 10 * 10
            if percent > shown:
                shown = percent
                print(f'  playing: {percent:3d}%  sim {collector.sim_time_s:5.1f} s, '
                      f'{len(collector.shelf_events)} shelf events, '
                      f'{len(collector.receipts)} receipts', flush=True)
        owed = {s['account_token'] for s in truth['shoppers']
                if truth['carts'].get(s['account_token'])}
        deadline = time.monotonic() + args.settle_s
        while time.monotonic() < deadline and not owed <= {
                r.account_token for r in collector.receipts.values()}:
            stack.check_alive()
            executor.spin_once(timeout_sec=0.1)
    except LaunchError as error:
        failed = str(error)
    finally:
        if player is not None:
            interrupt(player)
        codes = stack.stop()
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown()
    if failed:
        print(f'error: {failed} (logs in {stack.log_dir})', file=sys.stderr)
        return 1
    crashed = {name: code for name, code in codes.items() if code != 0}
    if crashed:
        print(f'error: processes did not stop cleanly: {crashed} (logs in {stack.log_dir})',
              file=sys.stderr)
        return 1

    score = score_store(truth, config, collector.charged_receipts(), collector.tracks,
                        collector.reviewed_sessions)
    print_report(score, config.store.currency, config.store.currency_exponent)
    print_frame_delivery(collector.camera_frames, config)
    png = out / 'floor.png'
    plot(png, config, truth, collector)
    (out / 'receipts.json').write_text(json.dumps(
        [vars(r) for r in collector.charged_receipts()], indent=1, sort_keys=True))
    (out / 'tracks.json').write_text(json.dumps([vars(t) for t in collector.tracks]))
    print(f'\nplot: {png}\nreceipts: {out / "receipts.json"}\ntracks: {out / "tracks.json"}'
          f'\nlogs: {stack.log_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
