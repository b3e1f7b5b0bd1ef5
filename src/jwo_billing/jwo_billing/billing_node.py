"""Billing node: gate events and carts in, one charge per session, receipts out.

The node only converts messages and calls `BillingCore`; everything that matters is in the
ledger, so the node can be killed at any point and restarted on the same files. It acts on
no gate event whose signature (the entry gate's for entries, fusion's for exits) does not
check out against the store's keystore: those get a security alert on `/store/alerts`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from jwo_billing.billing import (BillingCore, CartData, ChargeStatus, ReceiptKind,
                                 ReceiptRecord)
from jwo_billing.ledger import open_store_ledger
from jwo_billing.payments import SandboxProcessor
from jwo_billing.receipt import CartLine, format_minor
from jwo_billing.sessions import GateEventData, GateKind
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import EVENTS
from jwo_common.signed_messages import (UntilClockRuns, check_gate_event, open_keystore,
                                        refusal_alert)
from jwo_common.signing import Verdict, Verifier
from jwo_common.store_config import SqliteLedger, load_store_config
from jwo_interfaces.msg import Cart, GateEvent, Receipt, ReceiptLine, StoreAlert

# A till that starts late (or restarts) still gets the recent receipts.
RECEIPTS_QOS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)

_RECEIPT_KIND = {ReceiptKind.SALE: Receipt.SALE, ReceiptKind.REFUND: Receipt.REFUND,
                 ReceiptKind.ADJUSTMENT: Receipt.ADJUSTMENT}
_RECEIPT_STATUS = {ChargeStatus.CAPTURED: Receipt.CAPTURED, ChargeStatus.DECLINED: Receipt.DECLINED,
                   ChargeStatus.HELD: Receipt.HELD}


@dataclass(frozen=True)
class BillingSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    ledger_path: str = param('', 'SQLite ledger file; empty = billing.ledger of the store '
                             'config (SQLite or PostgreSQL)', read_only=True)
    processor_path: str = param('', 'SQLite file of the sandbox payment processor; empty = '
                                'sandbox_processor.sqlite3 next to the ledger', read_only=True)
    decline_pattern: str = param('^decline-', 'Sandbox: account tokens matching this regular '
                                 'expression are declined', read_only=True)
    retry_period_s: float = param(1.0, 'Seconds between retries of sessions left unfinished '
                                  '(gateway timeouts)', min_value=0.05, max_value=600.0,
                                  read_only=True)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        min_value=0.1, max_value=60.0, read_only=True)


def gate_event_data(msg: GateEvent) -> GateEventData:
    return GateEventData(
        event_id=msg.event_id, gate_id=msg.gate_id,
        kind=GateKind.ENTRY if msg.kind == GateEvent.ENTRY else GateKind.EXIT,
        session_id=msg.session_id, account_token=msg.account_token, party_size=msg.party_size,
        track_id=msg.track_id, stamp_ns=msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)


def cart_data(msg: Cart) -> CartData:
    return CartData(session_id=msg.session_id, revision=msg.revision,
                    lines=tuple(CartLine(item.sku, item.quantity) for item in msg.items),
                    pending_review=msg.pending_review,
                    stamp_ns=msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)


def receipt_message(record: ReceiptRecord, store_id: str) -> Receipt:
    receipt = record.receipt
    return Receipt(
        receipt_id=record.receipt_id, store_id=store_id, session_id=record.session_id,
        account_token=record.account_token, kind=_RECEIPT_KIND[record.kind],
        status=_RECEIPT_STATUS[record.status], corrects_receipt_id=record.corrects_receipt_id,
        currency=receipt.currency,
        lines=[ReceiptLine(sku=line.sku, name=line.name, quantity=line.quantity,
                           unit_price_minor=line.unit_price_minor,
                           line_total_minor=line.line_total_minor, tax_class=line.tax_class,
                           tax_minor=line.tax_minor) for line in receipt.lines],
        subtotal_minor=receipt.subtotal_minor, tax_minor=receipt.tax_minor,
        total_minor=receipt.total_minor, prices_include_tax=receipt.prices_include_tax,
        payment_reference=record.payment_reference)


class BillingNode(Node):
    def __init__(self, **kwargs):
        super().__init__('billing', **kwargs)
        settings = declare_settings(self, BillingSettings)
        config = load_store_config(settings.store_config)
        ledger_path = Path(settings.ledger_path) if settings.ledger_path else None
        if settings.processor_path:
            processor_path = Path(settings.processor_path)
        elif ledger_path or isinstance(config.billing.ledger, SqliteLedger):
            processor_path = (ledger_path or config.resolve_path(
                config.billing.ledger.path)).parent / 'sandbox_processor.sqlite3'
        else:
            raise ValueError(f'{settings.store_config}: billing.ledger: a PostgreSQL ledger '
                             'needs the processor_path parameter (the sandbox keeps its own '
                             'file)')
        self._store_id = config.store.id
        self._currency_exponent = config.store.currency_exponent
        self._ledger = open_store_ledger(config, ledger_path)
        self._processor = SandboxProcessor(processor_path, settings.decline_pattern)
        self._core = BillingCore(self._ledger, self._processor, config)
        self._verifier = Verifier(open_keystore(config), config.security.signature_window_s)
        self._until_clock = UntilClockRuns(self)
        self._counts: Counter[str] = Counter()
        self._unfinished = 0
        self._receipts = self.create_publisher(Receipt, '/receipts', RECEIPTS_QOS)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._alerts = self.create_publisher(StoreAlert, '/store/alerts', EVENTS)
        self.create_subscription(GateEvent, '/gates/events', self._on_gate_event, EVENTS)
        self.create_subscription(Cart, '/carts', self._on_cart, EVENTS)
        self.create_timer(settings.retry_period_s, self._resolve_unfinished)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f'ledger {ledger_path or config.billing.ledger.backend}, '
                               f'sandbox processor {processor_path}, store {config.store.id}')
        self._resolve_unfinished(every_correction=True)    # what a crash interrupted, first

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_gate_event(self, msg: GateEvent) -> None:
        if self._until_clock.hold(self._on_gate_event, msg):
            return
        now_ns = self._now_ns()
        event = gate_event_data(msg)
        verdict = check_gate_event(self._verifier, msg, now_ns)
        if verdict == Verdict.EXPIRED and self._core.handled(event):
            # Redelivered to a restarted billing (the publisher keeps recent events): what
            # the ledger already holds changes nothing, however old its signature.
            verdict = Verdict.ACCEPTED
        if verdict != Verdict.ACCEPTED:
            self._counts['gate_event_refused'] += 1
            alert = refusal_alert('gate event', msg.event_id, verdict,
                                  self.get_fully_qualified_name(), now_ns)
            self._alerts.publish(alert)
            self.get_logger().warning(alert.description)
            return
        try:
            result = self._core.on_gate_event(event, now_ns)
        except Exception as error:     # the ledger keeps the state; the retry timer resumes
            self._fail(f'gate event {msg.event_id!r}', error)
            return
        self._counts[result.outcome.value] += 1
        if result.reason:
            self.get_logger().warning(f'{result.outcome.value}: {result.reason}')
        self._publish_receipts()

    def _on_cart(self, msg: Cart) -> None:
        if msg.store_id and msg.store_id != self._store_id:
            self._counts['cart_other_store'] += 1
            self.get_logger().warning(f'cart of session {msg.session_id!r} is for store '
                                      f'{msg.store_id!r}, not {self._store_id!r}: ignored')
            return
        try:
            self._core.on_cart(cart_data(msg), self._now_ns())
            self._publish_receipts()
        except Exception as error:
            self._fail(f'cart {msg.session_id!r} revision {msg.revision}', error)

    def _resolve_unfinished(self, every_correction: bool = False) -> None:
        try:
            self._unfinished = len(self._core.resolve_unfinished(self._now_ns()))
            self._core.resolve_corrections(self._now_ns(), every_session=every_correction)
        except Exception as error:
            self._fail('resolving unfinished sessions', error)
            return
        self._publish_receipts()

    def _publish_receipts(self) -> None:
        for record in self._core.unpublished_receipts():
            self._receipts.publish(receipt_message(record, self._store_id))
            self._core.mark_published(record, self._now_ns())
            self._counts[record.status.value] += 1
            amount = format_minor(record.receipt.total_minor, record.receipt.currency,
                                  self._currency_exponent)
            self.get_logger().info(f'receipt {record.receipt_id}: {record.status.value} {amount}'
                                   + (f' ({record.reason})' if record.reason else ''))

    def _fail(self, what: str, error: Exception) -> None:
        self._counts['errors'] += 1
        self.get_logger().error(f'{what}: {type(error).__name__}: {error}')

    def _publish_diagnostics(self) -> None:
        self._until_clock.release()     # a timer runs once the node's clock does
        level = DiagnosticStatus.WARN if self._unfinished or self._counts['errors'] else \
            DiagnosticStatus.OK
        status = DiagnosticStatus(level=level, name='jwo_billing: sessions',
                                  hardware_id=self.get_name(),
                                  message=f'{self._unfinished} closed sessions waiting on the '
                                  'payment gateway')
        status.values = [KeyValue(key=key, value=str(n)) for key, n in sorted(
            {**self._counts, 'unfinished': self._unfinished}.items())]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def destroy_node(self):
        self._ledger.close()
        self._processor.close()
        return super().destroy_node()


def main(args=None):
    run_node(BillingNode, args)


if __name__ == '__main__':
    main()
