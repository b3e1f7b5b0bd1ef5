"""The billing node as a real process with a probe beside it, for the node-level tests."""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor

from jwo_common.qos import EVENTS
from jwo_common.testing import interrupt_and_wait, node_process, spin_until
from jwo_interfaces.msg import Cart, GateEvent, StoreAlert

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'


@dataclass
class BillingRig:
    node: object
    executor: SingleThreadedExecutor
    gates: object                     # publishers to /gates/events and /carts
    carts: object
    ledger_path: Path
    diagnostics: list = field(default_factory=list)
    alerts: list = field(default_factory=list)

    def counts(self) -> dict[str, str]:
        """The billing node's latest diagnostics counters."""
        return {kv.key: kv.value for d in self.diagnostics[-1:] for kv in d.status[0].values}

    def spin_until(self, condition, timeout_s: float, what: str) -> None:
        spin_until(self.executor, condition, timeout_s, what)


@pytest.fixture
def start_billing(tmp_path):
    """`start_billing(*parameters)`: the billing node on a fresh ledger in tmp_path, and a
    probe subscribed to its diagnostics and alerts; stopped (exit code 0) at the end."""
    started = []

    def start(*parameters: str) -> BillingRig:
        ledger_path = tmp_path / 'ledger.sqlite3'
        ros_args = ['-p', f'store_config:={STORE}', '-p', f'ledger_path:={ledger_path}',
                    '-p', 'diagnostics_period_s:=0.2']
        for parameter in parameters:
            ros_args += ['-p', parameter]
        process = node_process('jwo_billing.billing_node', ros_args=ros_args)
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node('billing_probe', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        started.append((process, context, node, executor))
        rig = BillingRig(node, executor, node.create_publisher(GateEvent, '/gates/events', EVENTS),
                         node.create_publisher(Cart, '/carts', EVENTS), ledger_path)
        node.create_subscription(DiagnosticArray, '/diagnostics', rig.diagnostics.append, 10)
        node.create_subscription(StoreAlert, '/store/alerts', rig.alerts.append, EVENTS)
        rig.spin_until(lambda: rig.gates.get_subscription_count() > 0 and
                       rig.carts.get_subscription_count() > 0, 30, 'the billing node to subscribe')
        return rig

    yield start
    for process, context, node, executor in started:
        code, _, err = interrupt_and_wait(process)
        # The probe's publishers keep their last events for late joiners: they must not
        # outlive this test and reach the next one's billing node.
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
        assert code == 0, err
