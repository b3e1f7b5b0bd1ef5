"""Billing node: records shopping sessions from gate events in the durable ledger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from jwo_billing.ledger import Ledger
from jwo_billing.sessions import GateEventData, GateKind, Outcome, handle_gate_event
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import EVENTS
from jwo_common.store_config import PostgresLedger, load_store_config
from jwo_interfaces.msg import GateEvent


@dataclass(frozen=True)
class BillingSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    ledger_path: str = param('', 'SQLite ledger file; empty = billing.ledger.path of the store '
                             'config', read_only=True)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        min_value=0.1, max_value=60.0, read_only=True)


def gate_event_data(msg: GateEvent) -> GateEventData:
    return GateEventData(
        event_id=msg.event_id, gate_id=msg.gate_id,
        kind=GateKind.ENTRY if msg.kind == GateEvent.ENTRY else GateKind.EXIT,
        session_id=msg.session_id, account_token=msg.account_token, party_size=msg.party_size,
        track_id=msg.track_id, stamp_ns=msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)


class BillingNode(Node):
    def __init__(self, **kwargs):
        super().__init__('billing', **kwargs)
        settings = declare_settings(self, BillingSettings)
        config = load_store_config(settings.store_config)
        if settings.ledger_path:
            path = Path(settings.ledger_path)
        elif isinstance(config.billing.ledger, PostgresLedger):
            raise ValueError(f'{settings.store_config}: billing.ledger: the PostgreSQL ledger is '
                             'not available in this version; use backend sqlite')
        else:
            path = config.resolve_path(config.billing.ledger.path)
        self._ledger = Ledger(path, config.store.id)
        self._counts = {outcome: 0 for outcome in Outcome}
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(GateEvent, '/gates/events', self._on_gate_event, EVENTS)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f'ledger {path} for store {config.store.id}')

    def _on_gate_event(self, msg: GateEvent) -> None:
        result = handle_gate_event(self._ledger, gate_event_data(msg))
        self._counts[result.outcome] += 1
        if result.reason:
            self.get_logger().warning(f'{result.outcome.value}: {result.reason}')
        else:
            self.get_logger().info(f'session {result.session_id}: {result.outcome.value}')

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name='jwo_billing: sessions',
                                  hardware_id=self.get_name(), message='ledger open')
        status.values = [KeyValue(key=o.value, value=str(n)) for o, n in self._counts.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def destroy_node(self):
        self._ledger.close()
        return super().destroy_node()


def main(args=None):
    run_node(BillingNode, args)


if __name__ == '__main__':
    main()
