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

Corrections: a cart revision that arrives after the sale was captured (a reviewer's late
decision) is never an edit of the sale. The difference between the latest charged receipt
and the corrected one is recorded as `correction:<revision>` (its own receipt), then
charged as a new hold and capture (ADJUSTMENT, gateway keys `...:correction:<revision>:
authorize|capture`) or refunded against the session's captures, oldest first (REFUND,
`...:correction:<revision>:refund:<n>`), and settled as `correction:<revision>:outcome`.
A cart still waiting for review is not corrected yet; nor is a held sale before release.

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
from jwo_billing.receipt import (CartLine, Receipt, ReceiptStatus, build_receipt,
                                 correction_receipt)
from jwo_billing.sessions import GateEventData, GateKind, GateResult, handle_gate_event
from jwo_common.store_config import StoreConfig


class ChargeStatus(enum.Enum):
    CAPTURED = 'captured'
    DECLINED = 'declined'
    HELD = 'held'


class ReceiptKind(enum.Enum):
    SALE = 'sale'
    REFUND = 'refund'
    ADJUSTMENT = 'adjustment'


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
    published_step: str             # the ledger step that records its publication
    kind: ReceiptKind = ReceiptKind.SALE
    corrects_receipt_id: str = ''


class BillingCore:
    def __init__(self, ledger: Ledger, gateway: PaymentGateway, config: StoreConfig,
                 gateway_attempts: int = 3):
        self._ledger = ledger
        self._gateway = gateway
        self._config = config
        self._gateway_attempts = gateway_attempts

    def handled(self, event: GateEventData) -> bool:
        """Whether the ledger already holds what this gate event does (a redelivery)."""
        session = self._ledger.session(event.session_id) if event.session_id else None
        if session is None:
            return False
        return event.kind is GateKind.ENTRY or session.closed_at_ns is not None

    def on_gate_event(self, event: GateEventData, now_ns: int) -> GateResult:
        result = handle_gate_event(self._ledger, event)
        if result.session_id and self._ledger.session(result.session_id) is not None:
            # Also on a duplicate: a replayed event is a chance to finish an interrupted step.
            self.advance(result.session_id, now_ns)
        return result

    def on_cart(self, cart: CartData, now_ns: int) -> bool:
        """Stores a cart revision; returns whether it is new. The latest revision wins; one
        that arrives after the sale was captured is a correction."""
        _, new = self._ledger.record(cart.session_id, f'cart:{cart.revision}', cart.stamp_ns, {
            'revision': cart.revision, 'pending_review': cart.pending_review,
            'lines': [[line.sku, line.quantity] for line in cart.lines]})
        if new:
            self.correct(cart.session_id, now_ns)
        return new

    def resolve_corrections(self, now_ns: int, every_session: bool) -> None:
        """Settles corrections a crash or timeout interrupted; with `every_session` (at
        start-up) also makes those whose cart revision arrived just before a crash."""
        sessions = [session_id for session_id, _ in self._ledger.steps_like('outcome')] \
            if every_session else [session_id for session_id, step in
                                   self._ledger.steps_like('correction:%')
                                   if step.count(':') == 1 and self._ledger.entry(
                                       session_id, f'{step}:outcome') is None]
        for session_id in dict.fromkeys(sessions):
            self.correct(session_id, now_ns)

    def correct(self, session_id: str, now_ns: int) -> None:
        """Charges or refunds the difference between the latest cart and what was charged."""
        sale = self._ledger.entry(session_id, 'outcome')
        if sale is None or sale.detail['status'] != ChargeStatus.CAPTURED.value:
            return
        self._settle_corrections(session_id, now_ns)
        revision, lines, pending_review = self._latest_cart(session_id)
        charged_revision, charged = self._last_charged_receipt(session_id)
        if revision <= charged_revision or pending_review:
            return
        corrected = build_receipt(lines, self._config)
        # The shopper has left: an age check can no longer hold the goods back.
        if any(not reason.startswith('age check') for reason in corrected.held_reasons):
            return
        change = correction_receipt(charged, corrected)
        if not change.lines and change.total_minor == 0:
            return
        self._ledger.record(session_id, f'correction:{revision}', now_ns, {
            'revision': revision, 'change': change.to_record(),
            'corrected': corrected.to_record()})
        self._settle_corrections(session_id, now_ns)

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
            revision, lines, pending_review = self._latest_cart(session_id)
            receipt = build_receipt(lines, self._config, pending_review)
            intended, _ = self._ledger.record(session_id, 'charge_intended', now_ns,
                                              {**receipt.to_record(), 'revision': revision})
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
        self.correct(session_id, now_ns)    # a cart revision may have come in meanwhile

    def receipt(self, session_id: str) -> ReceiptRecord | None:
        return receipt_record(self._ledger, session_id)

    def unpublished_receipts(self) -> list[ReceiptRecord]:
        held = [self.held_receipt(session_id) for session_id in
                self._ledger.session_ids_with_without('held', 'published:held')]
        final = [self.receipt(session_id) for session_id in
                 self._ledger.session_ids_with_without('outcome', 'published')]
        published = set(self._ledger.steps_like('published:correction:%'))
        corrections = [correction_record(self._ledger, session_id, step.split(':')[1])
                       for session_id, step in self._ledger.steps_like('correction:%:outcome')
                       if (session_id, f'published:{step.removesuffix(":outcome")}')
                       not in published]
        return held + final + corrections

    def held_receipt(self, session_id: str) -> ReceiptRecord | None:
        return held_receipt_record(self._ledger, session_id)

    def mark_published(self, record: ReceiptRecord, now_ns: int) -> None:
        self._ledger.record(record.session_id, record.published_step, now_ns,
                            {'receipt_id': record.receipt_id})

    def _waiting_on_gateway(self, session_id: str) -> bool:
        if self._ledger.session(session_id).closed_at_ns is None or \
                self._ledger.entry(session_id, 'outcome') is not None:
            return False
        return self._ledger.entry(session_id, 'held') is None or \
            self._ledger.entry(session_id, 'hold_released') is not None

    def _latest_cart(self, session_id: str) -> tuple[int, list[CartLine], bool]:
        """(revision, lines, pending review) of the latest cart; revision 0 = no cart."""
        carts = [e.detail for e in self._ledger.entries(session_id) if e.step.startswith('cart:')]
        if not carts:
            return 0, [], False
        latest = max(carts, key=lambda cart: cart['revision'])
        return latest['revision'], [CartLine(sku, quantity) for sku, quantity in
                                    latest['lines']], latest['pending_review']

    def _corrections(self, session_id: str) -> list:
        """The session's `correction:<revision>` entries, oldest revision first."""
        entries = [e for e in self._ledger.entries(session_id)
                   if e.step.startswith('correction:') and e.step.count(':') == 1]
        return sorted(entries, key=lambda e: e.detail['revision'])

    def _last_charged_receipt(self, session_id: str) -> tuple[int, Receipt]:
        """The receipt the latest correction (or the sale) brought the session to, and the
        cart revision it was built from."""
        corrections = self._corrections(session_id)
        if corrections:
            return corrections[-1].detail['revision'], \
                Receipt.from_record(corrections[-1].detail['corrected'])
        sale = self._ledger.entry(session_id, 'charge_intended').detail
        return sale.get('revision', 0), Receipt.from_record(sale)

    def _settle_corrections(self, session_id: str, now_ns: int) -> None:
        for correction in self._corrections(session_id):
            if self._ledger.entry(session_id, f'{correction.step}:outcome') is None:
                if not self._settle(session_id, correction, now_ns):
                    return    # timed out: later corrections wait, in order

    def _settle(self, session_id: str, correction, now_ns: int) -> bool:
        """Charges or refunds one correction; False if the gateway did not answer."""
        step = correction.step
        amount = Receipt.from_record(correction.detail['change']).total_minor
        outcome = {'status': ChargeStatus.CAPTURED.value, 'reference': '', 'reason': '',
                   'refunds': []}
        if amount > 0:
            hold = self._call(lambda: self._gateway.authorize(
                self._ledger.key(session_id, f'{step}:authorize'),
                self._ledger.session(session_id).account_token, amount,
                self._config.store.currency))
            if hold is None:
                return False
            capture = hold if not hold.approved else self._call(lambda: self._gateway.capture(
                self._ledger.key(session_id, f'{step}:capture'), hold.reference, amount))
            if capture is None:
                return False
            if not capture.approved:
                outcome.update(status=ChargeStatus.DECLINED.value, reason=capture.reason)
            outcome['reference'] = capture.reference
        elif amount < 0:
            owed = -amount
            for n, (reference, refundable) in enumerate(self._refundable(session_id)):
                take = min(owed, refundable)
                if take <= 0:
                    continue
                refund = self._call(lambda: self._gateway.refund(
                    self._ledger.key(session_id, f'{step}:refund:{n}'), reference, take))
                if refund is None:
                    return False
                if not refund.approved:
                    outcome.update(status=ChargeStatus.DECLINED.value, reason=refund.reason)
                    break
                outcome['refunds'].append([reference, refund.reference, take])
                owed -= take
            outcome['reference'] = ','.join(refund for _, refund, _ in outcome['refunds'])
            if owed and outcome['status'] == ChargeStatus.CAPTURED.value:
                outcome.update(status=ChargeStatus.DECLINED.value,
                               reason=f'{owed} more than was captured')
        self._ledger.record(session_id, f'{step}:outcome', now_ns, outcome)
        return True

    def _refundable(self, session_id: str) -> list[tuple[str, int]]:
        """(capture reference, amount not yet refunded) of the sale and of every captured
        adjustment, oldest first; from settled corrections only, so a retry sees the same."""
        sale = Receipt.from_record(self._ledger.entry(session_id, 'charge_intended').detail)
        captured = {self._ledger.entry(session_id, 'outcome').detail['reference']:
                    sale.total_minor}
        refunded: dict[str, int] = {}
        for correction in self._corrections(session_id):
            outcome = self._ledger.entry(session_id, f'{correction.step}:outcome')
            if outcome is None:
                continue
            amount = Receipt.from_record(correction.detail['change']).total_minor
            if amount > 0 and outcome.detail['status'] == ChargeStatus.CAPTURED.value:
                captured[outcome.detail['reference']] = amount
            for capture_reference, _, refund_minor in outcome.detail['refunds']:
                refunded[capture_reference] = refunded.get(capture_reference, 0) + refund_minor
        return [(reference, amount - refunded.get(reference, 0))
                for reference, amount in captured.items()]

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


def correction_record(ledger: Ledger, session_id: str, revision: str) -> ReceiptRecord:
    """The receipt of a settled correction (cart `revision`)."""
    step = f'correction:{revision}'
    change = Receipt.from_record(ledger.entry(session_id, step).detail['change'])
    outcome = ledger.entry(session_id, f'{step}:outcome').detail
    return ReceiptRecord(
        receipt_id=ledger.key(session_id, step), session_id=session_id,
        account_token=ledger.session(session_id).account_token,
        status=ChargeStatus(outcome['status']), receipt=change,
        payment_reference=outcome['reference'], reason=outcome['reason'],
        published_step=f'published:{step}',
        kind=ReceiptKind.REFUND if change.total_minor < 0 else ReceiptKind.ADJUSTMENT,
        corrects_receipt_id=ledger.key(session_id, 'sale'))


def _receipt_record(ledger: Ledger, session_id: str, status: ChargeStatus, reference: str,
                    reason: str) -> ReceiptRecord:
    return ReceiptRecord(
        receipt_id=ledger.key(session_id, 'sale'), session_id=session_id,
        account_token=ledger.session(session_id).account_token, status=status,
        receipt=Receipt.from_record(ledger.entry(session_id, 'charge_intended').detail),
        payment_reference=reference, reason=reason,
        published_step='published:held' if status is ChargeStatus.HELD else 'published')


def _result(result: PaymentResult) -> dict:
    return {'status': result.status.value, 'reference': result.reference,
            'amount_minor': result.amount_minor, 'reason': result.reason}
