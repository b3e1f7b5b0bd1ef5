"""The billing node as a real process: gate events and carts over loopback DDS become one
charge and one receipt per session."""

from pathlib import Path

from jwo_billing.billing_node import RECEIPTS_QOS
from jwo_billing.ledger import Ledger
from jwo_billing.payments import SandboxProcessor
from jwo_common.signed_messages import sign_gate_event
from jwo_common.testing import store_signer, wall_clock_ns
from jwo_interfaces.msg import Cart, CartItem, GateEvent, Receipt

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'


def gate_event(kind: int, event_id: str, session_id: str, account_token='acct-77') -> GateEvent:
    """Signed as the real signers do: entries by the gate, exits by fusion."""
    msg = GateEvent(event_id=event_id, kind=kind, session_id=session_id,
                    account_token=account_token, party_size=1)
    msg.gate_id = 'entry_1' if kind == GateEvent.ENTRY else 'exit_1'
    msg.header.stamp.sec = 100 if kind == GateEvent.ENTRY else 160
    signer = store_signer(STORE, 'entry_1', 'gate') if kind == GateEvent.ENTRY else \
        store_signer(STORE, 'fusion', 'fusion')
    sign_gate_event(signer, msg, wall_clock_ns())
    return msg


def cart(session_id: str, revision: int, *items: tuple[str, int]) -> Cart:
    return Cart(store_id='london_soho', session_id=session_id, revision=revision,
                items=[CartItem(sku=sku, quantity=quantity) for sku, quantity in items])


def test_sessions_are_charged_once_and_receipts_published(start_billing, tmp_path):
    billing = start_billing()
    gates, carts, counts = billing.gates, billing.carts, billing.counts
    gates.publish(gate_event(GateEvent.ENTRY, 'e1', 'e1'))
    gates.publish(gate_event(GateEvent.ENTRY, 'e1', 'e1'))
    gates.publish(gate_event(GateEvent.ENTRY, 'e2', 'e2', account_token='decline-1'))
    # Carts and gate events travel on different topics: wait for the cart to be recorded
    # before the exit, as the fusion node's final cart precedes its exit event.
    carts.publish(cart('e1', 1, ('GB-CRISPS-6', 3), ('GB-MILK-1L', 2)))
    carts.publish(cart('e2', 1, ('GB-MILK-1L', 1)))
    billing.spin_until(lambda: counts().get('opened') == '2', 30, 'two sessions opened')
    ledger = Ledger(billing.ledger_path, 'london_soho')
    billing.spin_until(lambda: ledger.entry('e1', 'cart:1') and ledger.entry('e2', 'cart:1'),
                       30, 'the carts in the ledger')
    gates.publish(gate_event(GateEvent.EXIT, 'x1', 'e1'))
    gates.publish(gate_event(GateEvent.EXIT, 'x1', 'e1'))
    gates.publish(gate_event(GateEvent.EXIT, 'x2', 'e2'))
    billing.spin_until(lambda: counts().get('captured') == '1' and
                       counts().get('declined') == '1', 30, 'a capture and a decline')

    # A late joiner (a till restarting) still gets both receipts.
    receipts = {}

    def on_receipt(receipt: Receipt) -> None:
        suffix = '-correction' if receipt.kind != Receipt.SALE else ''
        receipts.setdefault(receipt.session_id + suffix, receipt)
    billing.node.create_subscription(Receipt, '/receipts', on_receipt, RECEIPTS_QOS)
    billing.spin_until(lambda: len(receipts) == 2, 30, 'both receipts')

    # A reviewer's late decision takes the milk off e1's cart: a refund receipt follows.
    carts.publish(cart('e1', 2, ('GB-CRISPS-6', 3)))
    billing.spin_until(lambda: 'e1-correction' in receipts, 30, 'the refund receipt')
    # The node records a publication right after sending it: wait for that before reading.
    billing.spin_until(lambda: ledger.entry('e1', 'published:correction:2'), 30,
                       'the refund receipt recorded as published')
    paid, declined = receipts['e1'], receipts['e2']
    assert (paid.status, paid.currency, paid.total_minor, paid.tax_minor) == \
        (Receipt.CAPTURED, 'GBP', 860, 105)
    assert [(line.sku, line.quantity, line.line_total_minor) for line in paid.lines] == \
        [('GB-CRISPS-6', 3, 630), ('GB-MILK-1L', 2, 230)]
    assert declined.status == Receipt.DECLINED and not declined.payment_reference
    refund = receipts['e1-correction']
    assert (refund.kind, refund.status, refund.total_minor, refund.corrects_receipt_id) == \
        (Receipt.REFUND, Receipt.CAPTURED, -230, paid.receipt_id)
    assert [(line.sku, line.quantity) for line in refund.lines] == [('GB-MILK-1L', -2)]
    processor = SandboxProcessor(tmp_path / 'sandbox_processor.sqlite3')
    [capture] = processor.captures()
    assert (capture.reference, capture.amount_minor, capture.refunded_minor) == \
        (paid.payment_reference, 860, 230)
    steps = [e.step for e in ledger.entries('e1')]
    # The cart and the entry travel on different topics: either may be recorded first.
    assert sorted(steps[:3]) == ['authorized', 'cart:1', 'open']
    assert steps[3:] == ['close', 'charge_intended', 'outcome', 'published', 'cart:2',
                         'correction:2', 'correction:2:outcome', 'published:correction:2']
    assert ledger.session('e1').closed_at_ns == 160 * 10**9
    ledger.close()
    processor.close()
