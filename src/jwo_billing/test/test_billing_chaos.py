"""Chaos: the billing node as a real process, killed with SIGKILL at random points 50 times
while gate events and carts keep coming. Afterwards every session must be charged exactly
its cart, once, with its receipt recorded, and nothing charged twice."""

import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import rclpy
from rclpy.executors import SingleThreadedExecutor

from jwo_billing.payments import SandboxProcessor
from jwo_billing.receipt import CartLine, ReceiptStatus, build_receipt
from jwo_common.qos import EVENTS
from jwo_common.signed_messages import sign_gate_event
from jwo_common.store_config import load_store_config
from jwo_common.testing import (interrupt_and_wait, node_process, store_signer, wait_until,
                                wall_clock_ns)
from jwo_interfaces.msg import Cart, CartItem, GateEvent

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
CONFIG = load_store_config(STORE)
ENTRY_SIGNER = store_signer(STORE, 'entry_1', 'gate')
EXIT_SIGNER = store_signer(STORE, 'fusion', 'fusion')
KILLS = 50
SESSIONS = 80
IN_FLIGHT = 8          # sessions shopping at once
RESEND_S = 0.1         # upstream republishes what billing has not recorded yet
STALL_S = 30.0         # no session finished for this long: billing receives nothing


@dataclass
class Shopper:
    session_id: str
    account_token: str
    revisions: list[list[tuple[str, int]]]    # cart revisions 1..n, the last one is final

    def gate_event(self, kind: int, event_id: str) -> GateEvent:
        msg = GateEvent(event_id=event_id, kind=kind, session_id=self.session_id,
                        account_token=self.account_token, party_size=1)
        msg.gate_id = 'entry_1' if kind == GateEvent.ENTRY else 'exit_1'
        msg.header.stamp.sec = 100 if kind == GateEvent.ENTRY else 200
        sign_gate_event(ENTRY_SIGNER if kind == GateEvent.ENTRY else EXIT_SIGNER, msg,
                        wall_clock_ns())
        return msg

    def cart(self, revision: int) -> Cart:
        return Cart(store_id=CONFIG.store.id, session_id=self.session_id, revision=revision,
                    items=[CartItem(sku=sku, quantity=quantity)
                           for sku, quantity in self.revisions[revision - 1]])


def shoppers(rng: random.Random) -> list[Shopper]:
    skus = [p.sku for p in CONFIG.products]
    result = []
    for i in range(SESSIONS):
        revisions = [[(sku, rng.randint(0, 4)) for sku in rng.sample(skus, rng.randint(0, 4))]
                     for _ in range(rng.randint(1, 3))]
        token = 'decline-' + str(i) if rng.random() < 0.1 else f'acct-{i}'
        result.append(Shopper(f'chaos-{i:03d}', token, revisions))
    return result


class BillingProcess:
    """The node as a child process; `ready` is set once it has opened its ledger."""

    def __init__(self, ledger_path: Path):
        self.process = node_process('jwo_billing.billing_node', ros_args=[
            '-p', f'store_config:={STORE}', '-p', f'ledger_path:={ledger_path}',
            '-p', 'retry_period_s:=0.2'])
        self.ready = threading.Event()
        self.log: list[str] = []
        self._reader = threading.Thread(target=self._read_log, daemon=True)
        self._reader.start()

    def _read_log(self):
        for line in self.process.stderr:
            self.log.append(line)
            if 'sandbox processor' in line:
                self.ready.set()

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=10)


def recorded_steps(ledger_path: Path) -> dict[str, set[str]]:
    if not ledger_path.exists():
        return {}
    db = sqlite3.connect(ledger_path)
    try:
        steps: dict[str, set[str]] = {}
        for session_id, step in db.execute('SELECT session_id, step FROM entries'):
            steps.setdefault(session_id, set()).add(step)
        return steps
    except sqlite3.OperationalError:    # the node is still creating the schema
        return {}
    finally:
        db.close()


def feed(executor, gates, carts, ledger_path, pending: list[Shopper], until) -> None:
    """Publishes, for each of the first sessions in `pending`, the message billing needs
    next, until `until()`; drops sessions that were charged, declined or held for staff."""
    while not until():
        steps = recorded_steps(ledger_path)
        pending[:] = [s for s in pending
                      if not {'outcome', 'held'} & steps.get(s.session_id, set())]
        for shopper in pending[:IN_FLIGHT]:
            done = steps.get(shopper.session_id, set())
            if 'open' not in done:
                gates.publish(shopper.gate_event(GateEvent.ENTRY, shopper.session_id))
            elif f'cart:{len(shopper.revisions)}' not in done:
                for revision in range(1, len(shopper.revisions) + 1):
                    carts.publish(shopper.cart(revision))
            elif 'close' not in done:
                # Two exit sightings of the same shopper.
                gates.publish(shopper.gate_event(GateEvent.EXIT, f'x-{shopper.session_id}'))
                gates.publish(shopper.gate_event(GateEvent.EXIT, f'y-{shopper.session_id}'))
        deadline = time.monotonic() + RESEND_S
        while time.monotonic() < deadline and not until():
            executor.spin_once(timeout_sec=0.01)


def test_sigkill_at_random_points_never_loses_or_doubles_a_charge(tmp_path):
    rng = random.Random(20261122)
    ledger_path = tmp_path / 'ledger.sqlite3'
    everyone = shoppers(rng)
    pending = list(everyone)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('chaos_feeder', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    gates = node.create_publisher(GateEvent, '/gates/events', EVENTS)
    carts = node.create_publisher(Cart, '/carts', EVENTS)
    kills = 0
    try:
        while kills < KILLS:
            billing = BillingProcess(ledger_path)
            wait_until(billing.ready.is_set, 30, 'the billing node to start')
            kill_at = time.monotonic() + rng.uniform(0.0, 0.6)
            feed(executor, gates, carts, ledger_path, pending,
                 lambda: time.monotonic() >= kill_at)
            billing.kill()
            kills += 1
        print(f'{SESSIONS - len(pending)} of {SESSIONS} sessions finished under {kills} kills')
        # Fast DDS's shared-memory transport can leave a publisher unable to reach a
        # subscriber restarted after many SIGKILLs (eProsima/Fast-DDS#5469; seen once here: a
        # node that received nothing for ten minutes). That is the transport's fault, not
        # billing's: a node that records nothing for a while is restarted once more.
        # A fresh node starts even when the kills left nothing pending: it is the one
        # stopped cleanly below (the last one killed has no Ctrl-C left to answer).
        stalled_restarts = 0
        while True:
            billing = BillingProcess(ledger_path)
            wait_until(billing.ready.is_set, 30, 'the billing node to start')
            progress = [len(pending), time.monotonic()]

            def finished_or_stalled():
                if len(pending) < progress[0]:
                    progress[:] = [len(pending), time.monotonic()]
                return not pending or time.monotonic() - progress[1] > STALL_S

            feed(executor, gates, carts, ledger_path, pending, finished_or_stalled)
            if not pending:
                break
            billing.kill()
            stalled_restarts += 1
            assert stalled_restarts <= 3, ''.join(billing.log[-20:])
        print(f'restarted {stalled_restarts} times for receiving nothing for {STALL_S} s')
        wait_until(lambda: all({'published', 'published:held'} & recorded_steps(ledger_path).get(
            s.session_id, set()) for s in everyone), 30, 'every receipt published')
        code, _, err = interrupt_and_wait(billing.process)
        assert code == 0, err
    finally:
        if billing.process.poll() is None:
            billing.kill()
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()

    db = sqlite3.connect(ledger_path)
    outcomes = {session_id: (status, reference) for session_id, status, reference in db.execute(
        "SELECT session_id, json_extract(detail, '$.status'), json_extract(detail, '$.reference') "
        "FROM entries WHERE step = 'outcome'")}
    outcomes.update((session_id, ('held', '')) for session_id, in db.execute(
        "SELECT session_id FROM entries WHERE step = 'held'"))
    db.close()
    processor = SandboxProcessor(tmp_path / 'sandbox_processor.sqlite3')
    captures = processor.captures()
    processor.close()
    by_reference = {c.reference: c for c in captures}
    assert len(by_reference) == len(captures)
    assert len({c.authorization for c in captures}) == len(captures)
    expected_captures = 0
    for shopper in everyone:
        receipt = build_receipt([CartLine(*line) for line in shopper.revisions[-1]], CONFIG)
        status, reference = outcomes[shopper.session_id]
        if receipt.status is ReceiptStatus.HELD:
            assert status == 'held', shopper
        elif shopper.account_token.startswith('decline-'):
            assert status == 'declined', shopper
        else:
            assert status == 'captured', shopper
            capture = by_reference[reference]
            assert (capture.account_token, capture.amount_minor) == \
                (shopper.account_token, receipt.total_minor), shopper
            expected_captures += 1
    assert len(captures) == expected_captures     # no capture without its session's receipt
    assert kills == KILLS
