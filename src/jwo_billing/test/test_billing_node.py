"""The billing node as a real process: gate events over loopback DDS end up in its ledger."""

from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor

from jwo_billing.ledger import Ledger
from jwo_common.qos import EVENTS
from jwo_common.testing import interrupt_and_wait, node_process, spin_until
from jwo_interfaces.msg import GateEvent

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'


def gate_event(kind: int, event_id: str, session_id: str) -> GateEvent:
    msg = GateEvent(event_id=event_id, kind=kind, session_id=session_id,
                    account_token='acct-77', party_size=1)
    msg.gate_id = 'entry_1' if kind == GateEvent.ENTRY else 'exit_1'
    msg.header.stamp.sec = 100 if kind == GateEvent.ENTRY else 160
    return msg


def test_gate_events_are_recorded_once(tmp_path):
    ledger_path = tmp_path / 'ledger.sqlite3'
    process = node_process('jwo_billing.billing_node', ros_args=[
        '-p', f'store_config:={STORE}', '-p', f'ledger_path:={ledger_path}',
        '-p', 'diagnostics_period_s:=0.2'])
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('gate_feeder', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        publisher = node.create_publisher(GateEvent, '/gates/events', EVENTS)
        diagnostics = []
        node.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)
        spin_until(executor, lambda: publisher.get_subscription_count() > 0, 30,
                   'the billing node to subscribe')
        for msg in [gate_event(GateEvent.ENTRY, 'e1', 'e1'), gate_event(GateEvent.ENTRY, 'e1', 'e1'),
                    gate_event(GateEvent.EXIT, 'x1', 'e1')]:
            publisher.publish(msg)

        def closed_count():
            values = {kv.key: kv.value for d in diagnostics[-1:] for kv in d.status[0].values}
            return values.get('closed') == '1' and values.get('duplicate') == '1'
        spin_until(executor, closed_count, 30, 'diagnostics counting the closed session')
    finally:
        code, _, err = interrupt_and_wait(process)
        context.try_shutdown()
    assert code == 0, err
    ledger = Ledger(ledger_path, 'london_soho')
    assert [e.step for e in ledger.entries('e1')] == ['open', 'close']
    assert ledger.session('e1').closed_at_ns == 160 * 10**9
    ledger.close()
