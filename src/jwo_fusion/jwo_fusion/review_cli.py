"""`jwo_review`: staff's side of human review, signed with the reviewer's key.

    jwo_review list STORE_CONFIG                      # the recent requests, with evidence
    jwo_review decide STORE_CONFIG REQUEST_ID --reviewer staff --session SESSION \\
        --item GB-MILK-1L:2 [--item SKU:QTY ...]        # who did it and what really moved
    jwo_review decide STORE_CONFIG REQUEST_ID --reviewer staff --dismiss   # nothing happened
    jwo_review decide STORE_CONFIG REQUEST_ID --reviewer staff \
        --share SESSION_A:GB-CRISPS-6:2 --share SESSION_B:GB-CRISPS-6:1   # two took from it

Requests come from `/review/requests` (fusion keeps the last 100 for late joiners);
a decision goes to `/review/decisions`, signed with the reviewer's private key from the
store's keystore, which fusion checks before it changes any cart.
"""

from __future__ import annotations

import argparse
import sys
import time

from jwo_common.signing import KeystoreError
from jwo_common.store_config import StoreConfigError, load_store_config
from jwo_fusion.review import ReviewReason

REASONS = {reason.value: reason.name.lower() for reason in ReviewReason}
QUIET_S = 0.5


def parse_item(text: str) -> tuple[str, int]:
    sku, _, quantity = text.rpartition(':')
    if not sku or not quantity.isdigit() or int(quantity) < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: expected SKU:QUANTITY, e.g. GB-MILK-1L:2')
    return sku, int(quantity)


def parse_share(text: str) -> tuple[str, str, int]:
    session_id, _, item = text.partition(':')
    if not session_id or ':' not in item:
        raise argparse.ArgumentTypeError(
            f'{text!r}: expected SESSION:SKU:QUANTITY, e.g. entry_1-17672:GB-MILK-1L:2')
    return (session_id, *parse_item(item))


def request_lines(msg) -> list[str]:
    lines = [f'{msg.request_id}  {REASONS.get(msg.reason, msg.reason)}  '
             f'confidence {msg.confidence:.2f}  {msg.description}']
    if msg.event.event_id:
        lines.append(f'    shelf event {msg.event.event_id} at {msg.event.shelf_id}/'
                     f'{"+".join(msg.event.slot_ids)}: {msg.event.delta_grams:+.0f} g; '
                     + ', '.join(f'{c.quantity} x {c.sku} ({c.probability:.2f})'
                                 for c in msg.event.candidates))
    lines += [f'    session {c.session_id or "?"} (shopper {c.track_id or "?"}): '
              f'{c.probability:.2f}' for c in msg.candidates]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_review', description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    listing = commands.add_parser('list', help='print the recent review requests')
    listing.add_argument('store_config')
    listing.add_argument('--wait', type=float, default=10.0,
                         help='at most this many seconds to find fusion and collect its '
                              'recent requests (default 10)')
    decide = commands.add_parser('decide', help='answer one request')
    decide.add_argument('store_config')
    decide.add_argument('request_id')
    decide.add_argument('--reviewer', required=True, help='your reviewer id (your key signs)')
    decide.add_argument('--session', default='', help='the session that did it')
    decide.add_argument('--item', type=parse_item, action='append', default=[],
                        metavar='SKU:QTY', help='what really moved (repeatable)')
    decide.add_argument('--share', type=parse_share, action='append', default=[],
                        metavar='SESSION:SKU:QTY', help='one weight change several shoppers '
                        'made: what each session moved (repeatable; instead of --session)')
    decide.add_argument('--dismiss', action='store_true', help='nothing to charge')
    decide.add_argument('--timeout', type=float, default=10.0,
                        help='seconds to wait for fusion to take the decision')
    args, ros_args = parser.parse_known_args(argv)
    if args.command == 'decide' and args.share and (args.session or args.item):
        parser.error('decide: --share replaces --session and --item')
    if args.command == 'decide' and not (args.dismiss or args.session or args.share):
        parser.error('decide: --session (or --share) is required unless --dismiss')
    try:
        config = load_store_config(args.store_config)
        if args.command == 'decide':
            from jwo_common.signed_messages import open_keystore
            signer = open_keystore(config).signer(args.reviewer, 'reviewer')
    except (StoreConfigError, KeystoreError) as error:
        print(f'jwo_review: {error}', file=sys.stderr)
        return 1

    import rclpy
    from rclpy.duration import Duration

    from jwo_common.qos import EVENTS
    from jwo_common.signed_messages import sign_review_decision
    from jwo_interfaces.msg import ProductCandidate, ReviewDecision, ReviewRequest, ReviewShare
    rclpy.init(args=ros_args)
    node = rclpy.create_node('jwo_review')
    try:
        if args.command == 'list':
            requests = {}
            last = {'at': time.monotonic()}

            def on_request(msg) -> None:
                requests.setdefault(msg.request_id, msg)
                last['at'] = time.monotonic()
            node.create_subscription(ReviewRequest, '/review/requests', on_request, EVENTS)
            deadline = time.monotonic() + args.wait
            matched = False
            # Once a publisher is matched its kept requests arrive in one burst: done when
            # it has been quiet for a moment since.
            while time.monotonic() < deadline:
                if not matched and node.count_publishers('/review/requests'):
                    matched, last['at'] = True, time.monotonic()
                if matched and time.monotonic() - last['at'] > QUIET_S:
                    break
                rclpy.spin_once(node, timeout_sec=0.05)
            for msg in requests.values():
                print('\n'.join(request_lines(msg)))
            print(f'{len(requests)} review requests')
            return 0
        def items(pairs) -> list:
            return [ProductCandidate(sku=sku, quantity=quantity, probability=1.0)
                    for sku, quantity in pairs]
        shares = {}
        for session_id, sku, quantity in args.share:
            shares.setdefault(session_id, []).append((sku, quantity))
        decision = ReviewDecision(
            request_id=args.request_id, reviewer_id=args.reviewer, dismissed=args.dismiss,
            session_id=args.session, items=items(args.item),
            shares=[ReviewShare(session_id=session_id, items=items(pairs))
                    for session_id, pairs in shares.items()])
        decision.header.stamp = node.get_clock().now().to_msg()
        sign_review_decision(signer, decision, node.get_clock().now().nanoseconds)
        publisher = node.create_publisher(ReviewDecision, '/review/decisions', EVENTS)
        deadline = time.monotonic() + args.timeout
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.1)
        if publisher.get_subscription_count() == 0:
            print('jwo_review: nobody subscribes to /review/decisions (is fusion running?)',
                  file=sys.stderr)
            return 1
        publisher.publish(decision)
        # Reliable delivery needs the writer alive until the reader has acknowledged.
        if not publisher.wait_for_all_acked(Duration(seconds=args.timeout)):
            print('jwo_review: fusion did not acknowledge the decision', file=sys.stderr)
            return 1
        print(f'{args.request_id}: decision sent, signed by {signer.key_id}')
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    sys.exit(main())
