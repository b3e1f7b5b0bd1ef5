"""The main job: runs the whole stack of a store on a recorded bag and scores what it charged.

    .venv/bin/python scripts/run_store.py [--store config/london/store.yaml] [--bag DIR]

Brings the stack up with `jwo_launch`'s launcher (nodes on sim time), plays the bag, collects
what the stack published (receipts, tracked shoppers, review requests). Then staff, played
from the bag's ground truth, answer the review requests and release the held receipts
(`StaffDesk`; not with `--no-staff`). It stops the stack, prints each shopper's receipt as the
stack charged it beside the true one (and what staff made of it), a score table for both,
and writes a PNG of the floor with the true paths, the tracks and the shelf events to `--out`.
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
from jwo_common.launcher import LaunchError
from jwo_common.signing import KeystoreError
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
    parser.add_argument('--no-staff', action='store_true',
                        help='score only what the stack charged on its own: nobody answers '
                        'its review requests or releases its held receipts')
    return parser.parse_args()


class Collector:
    """A probe node that keeps what the stack publishes."""

    def __init__(self, node, start_unix_s: float):
        from jwo_billing.billing_node import RECEIPTS_QOS
        from jwo_common.qos import EVENTS, sensor_qos
        from jwo_fusion.fusion_node import CARTS_TOPIC
        from jwo_interfaces.msg import (Cart, Receipt, ReviewRequest, ShelfEvent,
                                        TrackedShopperArray)
        from diagnostic_msgs.msg import DiagnosticArray
        from rosgraph_msgs.msg import Clock
        self._start = start_unix_s
        self.receipts: dict[str, Receipt] = {}
        self.tracks = []
        self.shelf_events = []
        self.reviewed_sessions: set[str] = set()
        self.requests: dict[str, ReviewRequest] = {}
        self.receipt_status: dict[str, int] = {}     # receipt id -> its latest status
        self.carts: dict[str, Cart] = {}             # session id -> its latest revision
        self.keep_tracks = True
        self.clock_ns = 0
        self.sim_time_s = 0.0
        # camera id -> (frames received, frames missing), as detection and the gate count them
        self.camera_frames: dict[str, tuple[int, int]] = {}
        node.create_subscription(Receipt, '/receipts', self._on_receipt, RECEIPTS_QOS)
        node.create_subscription(Cart, CARTS_TOPIC, self._on_cart, EVENTS)
        node.create_subscription(TrackedShopperArray, '/shoppers/tracked', self._on_tracked,
                                 sensor_qos('reliable'))
        node.create_subscription(ShelfEvent, '/shelves/events', self.shelf_events.append, EVENTS)
        node.create_subscription(ReviewRequest, '/review/requests', self._on_review, EVENTS)
        node.create_subscription(Clock, '/clock', self._on_clock, 10)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 100)

    def seconds(self, stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9 - self._start

    def _on_clock(self, msg) -> None:
        self.clock_ns = msg.clock.sec * 10**9 + msg.clock.nanosec
        self.sim_time_s = self.seconds(msg.clock)

    def _on_receipt(self, msg) -> None:
        # The receipt as first published (a held one, as the stack charged it at the exit);
        # staff's release sends it again with its outcome.
        self.receipts.setdefault(msg.receipt_id, msg)
        self.receipt_status[msg.receipt_id] = msg.status

    def _on_cart(self, msg) -> None:
        if msg.pending_review:
            # Sent to review: its receipt waits for a person (a request's other, unlikely
            # candidates are not held, so not counted).
            self.reviewed_sessions.add(msg.session_id)
        latest = self.carts.get(msg.session_id)
        if latest is None or msg.revision > latest.revision:
            self.carts[msg.session_id] = msg

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if 'received_frames' in values and 'missing_frames' in values:
                self.camera_frames[status.hardware_id] = (int(values['received_frames']),
                                                          int(values['missing_frames']))

    def _on_tracked(self, msg) -> None:
        from jwo_interfaces.msg import TrackedShopper
        from jwo_sim.scoring import TrackSample
        if not self.keep_tracks:
            return
        t_s = self.seconds(msg.header.stamp)
        # A track that has left is no claim that someone stands on the floor.
        self.tracks += [TrackSample(t_s, s.track_id, s.pose.pose.position.x,
                                    s.pose.pose.position.y) for s in msg.shoppers
                        if s.state != TrackedShopper.EXITED]

    def _on_review(self, msg) -> None:
        self.requests.setdefault(msg.request_id, msg)

    def charged_receipts(self):
        from jwo_interfaces.msg import Receipt
        from jwo_sim.scoring import ADJUSTMENT, REFUND, SALE, ChargedReceipt
        kinds = {Receipt.SALE: SALE, Receipt.REFUND: REFUND, Receipt.ADJUSTMENT: ADJUSTMENT}
        status = self.receipt_status
        return [ChargedReceipt(r.session_id, r.account_token, kinds[r.kind],
                               status[r.receipt_id] == Receipt.CAPTURED,
                               status[r.receipt_id] == Receipt.HELD,
                               {line.sku: abs(line.quantity) for line in r.lines},
                               abs(r.total_minor))
                for r in self.receipts.values()]


class StaffDesk:
    """Staff at the review desk once the shoppers have gone: they answer every review request
    the way `jwo_review decide` does, from what the bag's ground truth shows
    (`jwo_sim.review_desk`), signed with the demo store's `staff` reviewer key, then release
    every held receipt as `billing_ledger release` does. The bag's /clock has stopped, so the
    desk runs the sim clock on from where it ended: the stack's timers (billing's retries)
    need it, and signatures are checked against it."""

    CLOCK_PERIOD_S = 0.1
    SETTLED_S = 1.0

    def __init__(self, node, spin, collector: Collector, truth: dict, config, ledger_path: Path):
        from rosgraph_msgs.msg import Clock
        from jwo_common.qos import EVENTS
        from jwo_common.signed_messages import open_keystore
        from jwo_interfaces.msg import ReviewDecision
        self._node, self._spin, self._collector = node, spin, collector
        self._truth, self._config, self._ledger_path = truth, config, ledger_path
        self._signer = open_keystore(config).signer('staff', 'reviewer')
        self._clock = node.create_publisher(Clock, '/clock', 10)
        self._decisions = node.create_publisher(ReviewDecision, '/review/decisions', EVENTS)
        self._clock_from = (collector.clock_ns, time.monotonic())

    def now_ns(self) -> int:
        start_ns, start_s = self._clock_from
        return start_ns + int((time.monotonic() - start_s) * 1e9)

    def wait(self, done, timeout_s: float) -> bool:
        """Spins, with the clock running, until `done()` or the timeout."""
        from rosgraph_msgs.msg import Clock
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                return False
            clock = Clock()
            clock.clock.sec, clock.clock.nanosec = divmod(self.now_ns(), 10**9)
            self._clock.publish(clock)
            self._spin(self.CLOCK_PERIOD_S)
        return True

    def review(self) -> tuple[int, int, list[str]]:
        """Answers the requests; returns (answered, dismissed, the ids left unanswered)."""
        from rclpy.duration import Duration

        from jwo_sim.review_desk import ReviewDesk, TrackPoint
        collector = self._collector
        if not self.wait(lambda: self._decisions.get_subscription_count() > 0, 10.0):
            raise LaunchError('nobody subscribes to /review/decisions (is fusion running?)')
        sessions = {r.account_token: r.session_id for r in collector.receipts.values()}
        desk = ReviewDesk(self._truth, sessions)
        answered = dismissed = 0
        unanswered = []
        for request_id, msg in sorted(collector.requests.items()):
            question = self._question(msg)
            track = [TrackPoint(s.t_s, s.x_m, s.y_m) for s in collector.tracks
                     if question.track_id and s.track_id == question.track_id]
            answer = desk.answer(question, track)
            if answer is None:
                unanswered.append(request_id)
                continue
            self._decisions.publish(self._decision(answer))
            answered += 1
            dismissed += answer.dismissed
        if not self._decisions.wait_for_all_acked(Duration(seconds=10)):
            raise LaunchError('fusion did not acknowledge the review decisions')
        return answered, dismissed, unanswered

    def release_held(self) -> int:
        """Releases every held sale once fusion has no review pending in its cart, then
        waits for billing to charge them and any corrections the decisions made."""
        from jwo_billing.billing import release_hold
        from jwo_billing.ledger import Ledger
        from jwo_interfaces.msg import Receipt
        collector = self._collector
        held = {r.session_id for r in collector.receipts.values()
                if r.kind == Receipt.SALE and collector.receipt_status[r.receipt_id] ==
                Receipt.HELD}
        self.wait(lambda: not any(collector.carts[s].pending_review for s in held
                                  if s in collector.carts), 20.0)
        ledger = Ledger(self._ledger_path, self._config.store.id)
        for session_id in sorted(held):
            release_hold(ledger, session_id, 'staff', self.now_ns())
        sessions = {r.session_id for r in collector.receipts.values()}
        quiet = {'since': None}

        def settled() -> bool:
            done = all(self._billed(ledger, session_id) for session_id in sessions)
            # Billing stores a cart and then records its correction: one look can fall
            # between the two.
            if not done:
                quiet['since'] = None
            elif quiet['since'] is None:
                quiet['since'] = time.monotonic()
            return done and time.monotonic() - quiet['since'] >= self.SETTLED_S
        if not self.wait(settled, 30.0):
            raise LaunchError('billing did not charge the released receipts within 30 s')
        return len(held)

    def _billed(self, ledger, session_id: str) -> bool:
        """Billing has the session's latest cart, charged it and published every receipt."""
        from jwo_interfaces.msg import Receipt
        steps = {entry.step: entry for entry in ledger.entries(session_id)}
        cart = self._collector.carts.get(session_id)
        if cart is not None and f'cart:{cart.revision}' not in steps:
            return False
        if 'outcome' not in steps or 'published' not in steps:
            return False
        if any(f'published:{step}' not in steps for step in steps
               if step.startswith('correction:') and step.count(':') == 1):
            return False
        status = self._collector.receipt_status
        return all(status.get(entry.detail['receipt_id'], Receipt.HELD) != Receipt.HELD
                   for step, entry in steps.items() if step.startswith('published:c')) and \
            status.get(steps['published'].detail['receipt_id'], Receipt.HELD) != Receipt.HELD

    def _question(self, msg):
        from jwo_fusion.review import ReviewReason, identity_request_id
        from jwo_interfaces.msg import ShelfEvent
        from jwo_sim.review_desk import Question
        seconds = self._collector.seconds
        reason = ReviewReason(msg.reason)
        track_id = ''
        if reason == ReviewReason.IDENTITY and msg.candidates:
            track_id = msg.request_id.removeprefix(
                identity_request_id('', msg.candidates[0].session_id))
        event = msg.event
        return Question(
            msg.request_id, reason, seconds(msg.header.stamp), tuple(event.slot_ids),
            taken=event.kind == ShelfEvent.OUTAGE or (
                event.kind != ShelfEvent.PUT and event.delta_grams <= 0),
            started_s=seconds(event.started), settled_s=seconds(event.header.stamp),
            session_ids=tuple(c.session_id for c in msg.candidates), track_id=track_id)

    def _decision(self, answer):
        from jwo_common.signed_messages import sign_review_decision
        from jwo_interfaces.msg import ProductCandidate, ReviewDecision, ReviewShare

        def items(pairs) -> list:
            return [ProductCandidate(sku=sku, quantity=quantity, probability=1.0)
                    for sku, quantity in pairs]
        decision = ReviewDecision(request_id=answer.request_id, reviewer_id='staff',
                                  dismissed=answer.dismissed, session_id=answer.session_id)
        if len(answer.shares) == 1:
            decision.session_id, decision.items = answer.shares[0][0], items(answer.shares[0][1])
        elif answer.shares:
            decision.shares = [ReviewShare(session_id=session_id, items=items(pairs))
                               for session_id, pairs in answer.shares]
        now_ns = self.now_ns()
        decision.header.stamp.sec, decision.header.stamp.nanosec = divmod(now_ns, 10**9)
        sign_review_decision(self._signer, decision, now_ns)
        return decision


def units_text(units: dict[str, int]) -> str:
    return ', '.join(f'{n} x {sku}' for sku, n in sorted(units.items())) or '(nothing)'


def print_report(score, currency: str, exponent: int, reviewed=None) -> None:
    """Each shopper's receipt as the stack charged it beside the true one, then the score
    table; `reviewed`: the score after staff answered the review requests, shown beside."""
    from jwo_billing.receipt import format_minor

    def money(minor: int) -> str:
        return format_minor(minor, currency, exponent)

    def line(what: str, units: dict[str, int], total_minor: int) -> str:
        return f'{what:<7} {money(total_minor)} [{units_text(units)}]'
    after = {s.account_token: s for s in reviewed.shoppers} if reviewed else {}
    print('\nper shopper: charged vs true')
    for shopper in score.shoppers:
        mark = 'ok ' if shopper.exact else 'BAD'
        held = ' (held for staff)' if shopper.held else ''
        pad = ' ' * len(shopper.account_token)
        print(f'  {mark} {shopper.account_token}: '
              f'{line("charged", shopper.charged_units, shopper.charged_total_minor)}'
              f'{held}')
        print(f'      {pad}  '
              f'{line("true", shopper.true_units, shopper.true_total_minor)}')
        staff = after.get(shopper.account_token)
        if staff is not None and (staff.charged_units, staff.charged_total_minor) != \
                (shopper.charged_units, shopper.charged_total_minor):
            mark = 'ok' if staff.exact else 'BAD'
            print(f'      {pad}  after staff review: {money(staff.charged_total_minor)} '
                  f'[{units_text(staff.charged_units)}] {mark}')

    def rows(score) -> list[str]:
        return [f'{score.exact_match_rate:.1%}', f'{score.item_precision:.3f}',
                f'{score.item_recall:.3f}', f'{score.idf1:.3f}', f'{score.review_rate:.1%}',
                str(score.charges), str(score.held),
                f'{money(score.charged_minor)} / {money(score.owed_minor)}']
    names = ['receipt exact-match rate', 'item precision', 'item recall', 'tracking IDF1',
             'review rate (sessions sent to review / shoppers)', 'charges captured',
             'receipts held for staff (age check, review)', 'charged (captured + held) / owed']
    columns = [('by the stack', rows(score))] + \
        ([('after staff review', rows(reviewed))] if reviewed else [])
    width = max(map(len, names))
    widths = [max(len(title), *map(len, values)) for title, values in columns]
    print('\nscore')
    print(f'  {"":<{width}}' + ''.join(f'  {title:>{w}}' for (title, _), w in
                                        zip(columns, widths)))
    for index, name in enumerate(names):
        print(f'  {name:<{width}}' + ''.join(f'  {values[index]:>{w}}' for (_, values), w in
                                              zip(columns, widths)))


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

    from jwo_common.launcher import Stack, interrupt, play_bag
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
        by_stack = collector.charged_receipts()
        staff = None
        if not args.no_staff:
            collector.keep_tracks = False    # the desk's clock is no sensor time

            def spin(timeout_s: float) -> None:
                stack.check_alive()
                executor.spin_once(timeout_sec=timeout_s)
            try:
                staff = StaffDesk(probe, spin, collector, truth, config,
                                  out / 'var' / 'ledger.sqlite3')
            except KeystoreError as error:
                print(f'staff review skipped: {error}')
        if staff is not None:
            answered, dismissed, unanswered = staff.review()
            released = staff.release_held()
            print(f'staff: answered {answered} review requests ({dismissed} dismissed) from the '
                  f'ground truth, released {released} held receipts'
                  + (f'; no answer for {", ".join(unanswered)}' if unanswered else ''))
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

    score = score_store(truth, config, by_stack, collector.tracks, collector.reviewed_sessions)
    reviewed = None if staff is None else score_store(
        truth, config, collector.charged_receipts(), collector.tracks, collector.reviewed_sessions)
    print_report(score, config.store.currency, config.store.currency_exponent, reviewed)
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
