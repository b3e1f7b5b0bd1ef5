"""The billing core: gate events and carts in, exactly one charge per session out.

A session moves through steps, each recorded in the ledger under its idempotency key
`<store>:<session>:<step>` before the next begins:

    open -> authorized -> (cart:<revision> ...) -> close -> charge_intended
         [-> held -> hold_released] -> outcome

- `authorized`: the processor's answer to the hold placed at entry (gateway key
  `<store>:<session>:authorize`).
- `charge_intended`: the receipt, built from the latest cart revision when the session
  closed, and so the exact amount to capture. Freezing it here means a retry after a crash
  captures the same amount even if more cart revisions arrive later.
- `held`: the receipt needs a person first (age check, review): nothing is charged until
  staff record `hold_released` (`billing_ledger ... release`), then the frozen receipt is
  captured as usual.
- `outcome`: `captured` or `declined`, with the processor's reference. One step for both,
  so the ledger's unique key makes two different outcomes for one session impossible.
- `published:held`, `published`: the held and the final receipt went out on the topic (at
  least once; both carry the same receipt id, consumers keep the latest status).

`advance(session)` looks at what the ledger holds and does the next steps; every gateway
call reuses the step's key, so the processor replays an answer it already gave. That makes
crash recovery the same code as normal operation: on start-up, and periodically, every
unfinished session is advanced. A gateway timeout leaves the session where it is, to be
retried later with the same key.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from jwo_billing.ledger import Ledger
from jwo_billing.payments import GatewayTimeout, PaymentGateway, PaymentResult
from jwo_billing.receipt import CartLine, Receipt, ReceiptStatus, build_receipt
from jwo_billing.sessions import GateEventData, GateResult, handle_gate_event
from jwo_common.store_config import StoreConfig


class ChargeStatus(enum.Enum):
    CAPTURED = 'captured'
    DECLINED = 'declined'
    HELD = 'held'


@dataclass(frozen=True)
class CartData:
    session_id: str
    revision: int
    lines: tuple[CartLine, ...]
    pending_review: bool
    stamp_ns: int


@dataclass(frozen=True)
class ReceiptRecord:
    """A session's final receipt, as recorded in the ledger."""

    receipt_id: str
    session_id: str
    account_token: str
    status: ChargeStatus
    receipt: Receipt
    payment_reference: str
    reason: str


class BillingCore:
    def __init__(self, ledger: Ledger, gateway: PaymentGateway, config: StoreConfig,
                 gateway_attempts: int = 3):
        self._ledger = ledger
        self._gateway = gateway
        self._config = config
        self._gateway_attempts = gateway_attempts

    def on_gate_event(self, event: GateEventData, now_ns: int) -> GateResult:
        result = handle_gate_event(self._ledger, event)
        if result.session_id and self._ledger.session(result.session_id) is not None:
            # Also on a duplicate: a replayed event is a chance to finish an interrupted step.
            self.advance(result.session_id, now_ns)
        return result

    def on_cart(self, cart: CartData) -> bool:
        """Stores a cart revision; returns whether it is new. The latest revision wins."""
        _, new = self._ledger.record(cart.session_id, f'cart:{cart.revision}', cart.stamp_ns, {
            'revision': cart.revision, 'pending_review': cart.pending_review,
            'lines': [[line.sku, line.quantity] for line in cart.lines]})
        return new

    def resolve_unfinished(self, now_ns: int) -> list[str]:
        """Advances every session without an outcome (after a crash, a gateway timeout or a
        released hold); returns the closed sessions still waiting on the gateway."""
        stuck = []
        for session_id in self._ledger.session_ids_without(('outcome',)):
            self.advance(session_id, now_ns)
            if self._waiting_on_gateway(session_id):
                stuck.append(session_id)
        return stuck

    def release_hold(self, session_id: str, staff_id: str, now_ns: int) -> None:
        """Staff checked what held the receipt (e.g. the shopper's age): charge it."""
        release_hold(self._ledger, session_id, staff_id, now_ns)
        self.advance(session_id, now_ns)

    def advance(self, session_id: str, now_ns: int) -> None:
        """Does every step of the session that can be done now."""
        session = self._ledger.session(session_id)
        authorized = self._ledger.entry(session_id, 'authorized')
        if authorized is None:
            hold = self._call(lambda: self._gateway.authorize(
                self._ledger.key(session_id, 'authorize'), session.account_token,
                self._config.billing.payment.hold_minor, self._config.store.currency))
            if hold is None:
                return
            authorized, _ = self._ledger.record(session_id, 'authorized', now_ns, _result(hold))
        if session.closed_at_ns is None or self._ledger.entry(session_id, 'outcome') is not None:
            return
        intended = self._ledger.entry(session_id, 'charge_intended')
        if intended is None:
            lines, pending_review = self._latest_cart(session_id)
            receipt = build_receipt(lines, self._config, pending_review)
            intended, _ = self._ledger.record(session_id, 'charge_intended', now_ns,
                                              receipt.to_record())
        receipt = Receipt.from_record(intended.detail)
        if receipt.status is ReceiptStatus.HELD:
            if self._ledger.entry(session_id, 'held') is None:
                self._ledger.record(session_id, 'held', now_ns,
                                    {'reason': '; '.join(receipt.held_reasons)})
            if self._ledger.entry(session_id, 'hold_released') is None:
                return
        if authorized.detail['status'] != 'approved':
            self._record_outcome(session_id, now_ns, ChargeStatus.DECLINED, '',
                                 f'no hold at entry: {authorized.detail["reason"]}')
            return
        capture = self._call(lambda: self._gateway.capture(
            self._ledger.key(session_id, 'capture'), authorized.detail['reference'],
            receipt.total_minor))
        if capture is None:
            return
        self._record_outcome(session_id, now_ns,
                             ChargeStatus.CAPTURED if capture.approved else ChargeStatus.DECLINED,
                             capture.reference, capture.reason)

    def receipt(self, session_id: str) -> ReceiptRecord | None:
        return receipt_record(self._ledger, session_id)

    def unpublished_receipts(self) -> list[ReceiptRecord]:
        held = [self.held_receipt(session_id) for session_id in
                self._ledger.session_ids_with_without('held', 'published:held')]
        final = [self.receipt(session_id) for session_id in
                 self._ledger.session_ids_with_without('outcome', 'published')]
        return held + final

    def held_receipt(self, session_id: str) -> ReceiptRecord | None:
        return held_receipt_record(self._ledger, session_id)

    def mark_published(self, record: ReceiptRecord, now_ns: int) -> None:
        step = 'published:held' if record.status is ChargeStatus.HELD else 'published'
        self._ledger.record(record.session_id, step, now_ns, {'receipt_id': record.receipt_id})

    def _waiting_on_gateway(self, session_id: str) -> bool:
        if self._ledger.session(session_id).closed_at_ns is None or \
                self._ledger.entry(session_id, 'outcome') is not None:
            return False
        return self._ledger.entry(session_id, 'held') is None or \
            self._ledger.entry(session_id, 'hold_released') is not None

    def _latest_cart(self, session_id: str) -> tuple[list[CartLine], bool]:
        carts = [e.detail for e in self._ledger.entries(session_id) if e.step.startswith('cart:')]
        if not carts:
            return [], False
        latest = max(carts, key=lambda cart: cart['revision'])
        return [CartLine(sku, quantity) for sku, quantity in latest['lines']], \
            latest['pending_review']

    def _record_outcome(self, session_id: str, now_ns: int, status: ChargeStatus,
                        reference: str, reason: str) -> None:
        self._ledger.record(session_id, 'outcome', now_ns, {
            'status': status.value, 'reference': reference, 'reason': reason})

    def _call(self, request) -> PaymentResult | None:
        """The gateway's answer, or None if it timed out on every attempt (the same key is
        retried later)."""
        for _ in range(self._gateway_attempts):
            try:
                return request()
            except GatewayTimeout:
                continue
        return None


def release_hold(ledger: Ledger, session_id: str, staff_id: str, now_ns: int) -> None:
    """Records that staff cleared a held receipt; the billing node then charges it (from
    another process too: the node's retry timer finds it in the ledger)."""
    if ledger.entry(session_id, 'held') is None:
        raise LookupError(f'session {session_id!r} has no held receipt')
    ledger.record(session_id, 'hold_released', now_ns, {'staff_id': staff_id})


def receipt_record(ledger: Ledger, session_id: str) -> ReceiptRecord | None:
    """The session's final receipt, or None while it has no outcome."""
    outcome = ledger.entry(session_id, 'outcome')
    if outcome is None:
        return None
    return _receipt_record(ledger, session_id, ChargeStatus(outcome.detail['status']),
                           outcome.detail['reference'], outcome.detail['reason'])


def held_receipt_record(ledger: Ledger, session_id: str) -> ReceiptRecord | None:
    """The receipt as it was held for staff, or None if it never was."""
    held = ledger.entry(session_id, 'held')
    if held is None:
        return None
    return _receipt_record(ledger, session_id, ChargeStatus.HELD, '', held.detail['reason'])


def _receipt_record(ledger: Ledger, session_id: str, status: ChargeStatus, reference: str,
                    reason: str) -> ReceiptRecord:
    return ReceiptRecord(
        receipt_id=ledger.key(session_id, 'sale'), session_id=session_id,
        account_token=ledger.session(session_id).account_token, status=status,
        receipt=Receipt.from_record(ledger.entry(session_id, 'charge_intended').detail),
        payment_reference=reference, reason=reason)


def _result(result: PaymentResult) -> dict:
    return {'status': result.status.value, 'reference': result.reference,
            'amount_minor': result.amount_minor, 'reason': result.reason}
