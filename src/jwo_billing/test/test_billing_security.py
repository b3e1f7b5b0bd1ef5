"""Anyone on the DDS domain can publish gate events: the billing node (a real process) acts
only on those its keystore vouches for. Forged, tampered, unsigned, expired, wrongly signed
and replayed ones charge nothing and raise a security alert each."""

from pathlib import Path

import rclpy
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.duration import Duration
from rclpy.executors import SingleThreadedExecutor
from rosgraph_msgs.msg import Clock

from jwo_billing.payments import SandboxProcessor
from jwo_common.qos import EVENTS
from jwo_common.signed_messages import sign_gate_event
from jwo_common.signing import Signer
from jwo_common.testing import (interrupt_and_wait, node_process, spin_until, store_signer,
                                wall_clock_ns)
from jwo_interfaces.msg import Cart, CartItem, GateEvent, StoreAlert

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
GATE = store_signer(STORE, 'entry_1', 'gate')
FUSION = store_signer(STORE, 'fusion', 'fusion')


def gate_event(kind: int, event_id: str, session_id: str, signer: Signer | None,
               signed_at_ns: int | None = None) -> GateEvent:
    msg = GateEvent(event_id=event_id, kind=kind, session_id=session_id,
                    account_token='acct-77', party_size=1,
                    gate_id='entry_1' if kind == GateEvent.ENTRY else 'exit_1')
    msg.header.stamp.sec = 100 if kind == GateEvent.ENTRY else 160
    if signer is not None:
        sign_gate_event(signer, msg, signed_at_ns or wall_clock_ns())
    return msg


def test_only_genuine_gate_events_open_or_charge_a_session(tmp_path):
    ledger_path = tmp_path / 'ledger.sqlite3'
    process = node_process('jwo_billing.billing_node', ros_args=[
        '-p', f'store_config:={STORE}', '-p', f'ledger_path:={ledger_path}',
        '-p', 'diagnostics_period_s:=0.2'])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('attacker', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        gates = node.create_publisher(GateEvent, '/gates/events', EVENTS)
        carts = node.create_publisher(Cart, '/carts', EVENTS)
        alerts, diagnostics = [], []
        node.create_subscription(StoreAlert, '/store/alerts', alerts.append, EVENTS)
        node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
        spin_until(executor, lambda: gates.get_subscription_count() > 0 and
                   carts.get_subscription_count() > 0, 30, 'the billing node to subscribe')

        def counts():
            return {kv.key: kv.value for d in diagnostics[-1:] for kv in d.status[0].values}

        gates.publish(gate_event(GateEvent.ENTRY, 's1', 's1', GATE))
        carts.publish(Cart(store_id='london_soho', session_id='s1', revision=1,
                           items=[CartItem(sku='GB-MILK-1L', quantity=2)]))
        spin_until(executor, lambda: counts().get('opened') == '1', 30, 'the genuine entry')

        tampered = gate_event(GateEvent.EXIT, 'x-tampered', 's1', FUSION)
        tampered.account_token = 'acct-attacker'
        attacks = [
            gate_event(GateEvent.ENTRY, 's2', 's2', None),                    # unsigned
            gate_event(GateEvent.EXIT, 'x-unsigned', 's1', None),
            gate_event(GateEvent.EXIT, 'x-forged', 's1',                      # claims fusion's key
                       Signer(FUSION.key_id, Ed25519PrivateKey.generate())),
            gate_event(GateEvent.EXIT, 'x-by-gate', 's1', GATE),              # not a gate's call
            gate_event(GateEvent.EXIT, 'x-old', 's1', FUSION,                 # a minute old
                       signed_at_ns=wall_clock_ns() - 60 * 10**9),
            tampered,
        ]
        for attack in attacks:
            gates.publish(attack)
        spin_until(executor, lambda: len(alerts) >= len(attacks), 30, 'an alert per attack')
        spin_until(executor, lambda: counts().get('gate_event_refused') == str(len(attacks)),
                   30, 'the refusals counted')
        assert sorted(ref for a in alerts for ref in a.refs) == \
            sorted(a.event_id for a in attacks)
        assert all(a.kind == StoreAlert.SECURITY for a in alerts)
        assert counts().get('opened') == '1' and 'captured' not in counts()

        genuine_exit = gate_event(GateEvent.EXIT, 'x1', 's1', FUSION)
        gates.publish(genuine_exit)
        spin_until(executor, lambda: counts().get('captured') == '1', 30, 'the genuine charge')
        gates.publish(genuine_exit)                                           # replayed
        spin_until(executor, lambda: len(alerts) == len(attacks) + 1, 30, 'the replay alert')
        assert 'replayed' in alerts[-1].description and alerts[-1].refs == ['x1']
    finally:
        code, _, err = interrupt_and_wait(process)
        # Our publishers keep their last events for late joiners: they must not outlive
        # this test and reach the next one's billing node.
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    assert code == 0, err
    processor = SandboxProcessor(tmp_path / 'sandbox_processor.sqlite3')
    [capture] = processor.captures()
    assert (capture.amount_minor, capture.refunded_minor) == (230, 0)
    processor.close()


def test_an_entry_that_arrives_before_the_clock_waits_for_it(tmp_path):
    """On sim time a node's clock reads 0 until the first /clock: an entry redelivered to a
    just-restarted billing then must wait, not be refused as expired."""
    sim_ns = 1_767_225_700 * 10**9
    process = node_process('jwo_billing.billing_node', ros_args=[
        '-p', f'store_config:={STORE}', '-p', f'ledger_path:={tmp_path / "ledger.sqlite3"}',
        '-p', 'diagnostics_period_s:=0.2', '-p', 'use_sim_time:=true'])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('gate_and_clock', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        gates = node.create_publisher(GateEvent, '/gates/events', EVENTS)
        clock = node.create_publisher(Clock, '/clock', 10)
        alerts, diagnostics = [], []
        node.create_subscription(StoreAlert, '/store/alerts', alerts.append, EVENTS)
        node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
        spin_until(executor, lambda: gates.get_subscription_count() > 0 and
                   clock.get_subscription_count() > 0, 30, 'the billing node to subscribe')
        gates.publish(gate_event(GateEvent.ENTRY, 's1', 's1', GATE, signed_at_ns=sim_ns))
        spin_until(executor, lambda: gates.wait_for_all_acked(Duration(seconds=0.1)), 10,
                   'the entry delivered')
        tick = Clock()
        tick.clock.sec = sim_ns // 10**9 + 1
        clock.publish(tick)

        def opened():
            return any(kv.key == 'opened' and kv.value == '1'
                       for d in diagnostics for kv in d.status[0].values)
        spin_until(executor, opened, 30, 'the session opened once time ran')
        assert alerts == []
    finally:
        code, _, err = interrupt_and_wait(process)
        # Our publishers keep their last events for late joiners: they must not outlive
        # this test and reach the next one's billing node.
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    assert code == 0, err
