"""The billing core on a real ledger and a real sandbox processor: one charge per session,
whatever is duplicated, replayed, declined, timed out or crashed."""

from pathlib import Path

import pytest

from jwo_billing.billing import BillingCore, CartData, ChargeStatus, ReceiptKind
from jwo_billing.ledger import Ledger
from jwo_billing.payments import SandboxProcessor, TimeoutPoint
from jwo_billing.receipt import CartLine
from jwo_billing.sessions import GateEventData, GateKind, Outcome
from jwo_common.store_config import load_store_config

CONFIG = load_store_config(Path(__file__).resolve().parents[3] / 'config' / 'seattle' /
                           'store.yaml')
STORE = CONFIG.store.id


def gate(kind: GateKind, event_id: str, session_id: str = 's1',
         account_token: str = 'acct-1') -> GateEventData:
    return GateEventData(event_id=event_id, gate_id='g', kind=kind, session_id=session_id,
                         account_token=account_token, party_size=1, track_id='',
                         stamp_ns=10 if kind is GateKind.ENTRY else 20)


def cart(revision: int, *lines: tuple[str, int], session_id: str = 's1',
         pending_review: bool = False) -> CartData:
    return CartData(session_id, revision, tuple(CartLine(*line) for line in lines),
                    pending_review, stamp_ns=15)


class Store:
    """A ledger, a processor and the core, reopened on the same files like a restart."""

    def __init__(self, directory: Path, wrap=lambda target: target):
        self.directory = directory
        self.ledger = Ledger(directory / 'ledger.sqlite3', STORE)
        self.processor = SandboxProcessor(directory / 'processor.sqlite3',
                                          account_limit_minor=10_000)
        self.core = BillingCore(wrap(self.ledger), wrap(self.processor), CONFIG)

    def deliver(self, *messages):
        for message in messages:
            if isinstance(message, CartData):
                self.core.on_cart(message, now_ns=30)
            else:
                self.core.on_gate_event(message, now_ns=30)

    def close(self):
        self.ledger.close()
        self.processor.close()


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path)
    yield store
    store.close()


# 2 sodas (taxable) and a gallon of milk: 358 + 489, tax round(358 * 10.35%) = 37.
SODA_AND_MILK = cart(2, ('US-SODA-12', 2), ('US-MILK-GAL', 1))
SODA_AND_MILK_TOTAL = 358 + 489 + 37


def test_a_session_is_charged_its_latest_cart(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), cart(1, ('US-SODA-12', 1)), SODA_AND_MILK,
                  cart(1, ('US-SODA-12', 1)),   # a late, older revision changes nothing
                  gate(GateKind.EXIT, 'x1'))
    [capture] = store.processor.captures()
    assert (capture.account_token, capture.amount_minor) == ('acct-1', SODA_AND_MILK_TOTAL)
    record = store.core.receipt('s1')
    assert record.status is ChargeStatus.CAPTURED
    assert record.payment_reference == capture.reference
    assert record.receipt.total_minor == SODA_AND_MILK_TOTAL
    assert record.receipt_id == f'{STORE}:s1:sale'
    assert [e.step for e in store.ledger.entries('s1')] == [
        'open', 'authorized', 'cart:1', 'cart:2', 'close', 'charge_intended', 'outcome']


def test_duplicated_and_replayed_exits_charge_once(store):
    session = [gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1')]
    store.deliver(*session, gate(GateKind.EXIT, 'x1'), gate(GateKind.EXIT, 'x2'))
    store.deliver(*session)    # the whole bag replayed
    assert [c.amount_minor for c in store.processor.captures()] == [SODA_AND_MILK_TOTAL]


def test_an_exit_that_overtakes_its_entry_is_charged_when_the_entry_arrives(store):
    store.deliver(SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    assert store.processor.captures() == []
    store.deliver(gate(GateKind.ENTRY, 'e1'))
    assert [c.amount_minor for c in store.processor.captures()] == [SODA_AND_MILK_TOTAL]


def test_an_exit_without_entry_charges_nobody(store):
    result = store.core.on_gate_event(gate(GateKind.EXIT, 'x1', session_id='ghost'), 30)
    assert result.outcome is Outcome.EXIT_WITHOUT_ENTRY
    assert store.processor.captures() == [] and store.core.receipt('ghost') is None


def test_a_declined_card_at_entry_is_declined_at_exit_without_a_capture(store):
    store.deliver(gate(GateKind.ENTRY, 'e1', account_token='decline-9'), SODA_AND_MILK,
                  gate(GateKind.EXIT, 'x1'))
    record = store.core.receipt('s1')
    assert record.status is ChargeStatus.DECLINED
    assert record.reason == 'no hold at entry: card declined'
    assert store.processor.captures() == []


def test_a_capture_above_the_account_limit_is_declined(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), cart(1, ('US-WINE-750', 0), ('US-SUNSCR', 9)),
                  gate(GateKind.EXIT, 'x1'))
    record = store.core.receipt('s1')
    assert record.status is ChargeStatus.DECLINED and 'insufficient funds' in record.reason
    assert record.receipt.total_minor > 10_000


def test_age_restricted_items_hold_the_session_until_staff_release_it(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), cart(1, ('US-IPA-6', 1)), gate(GateKind.EXIT, 'x1'))
    held = store.core.held_receipt('s1')
    assert held.status is ChargeStatus.HELD and held.reason == 'age check for US-IPA-6'
    assert store.core.receipt('s1') is None and store.processor.captures() == []
    assert store.core.resolve_unfinished(now_ns=40) == []    # waiting on staff, not the gateway
    assert store.processor.captures() == []
    [published] = store.core.unpublished_receipts()
    assert published.status is ChargeStatus.HELD
    store.core.mark_published(published, now_ns=41)

    store.core.release_hold('s1', staff_id='staff-4', now_ns=50)
    store.core.release_hold('s1', staff_id='staff-4', now_ns=51)
    # 1199 + round(1199 * 10.35%) = 1199 + 124
    assert [c.amount_minor for c in store.processor.captures()] == [1199 + 124]
    [final] = store.core.unpublished_receipts()
    assert final.status is ChargeStatus.CAPTURED and final.receipt_id == held.receipt_id


def test_only_a_held_receipt_can_be_released(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK)
    with pytest.raises(LookupError, match="'s1' has no held receipt"):
        store.core.release_hold('s1', staff_id='staff-4', now_ns=50)


@pytest.mark.parametrize('point', list(TimeoutPoint))
def test_a_gateway_timeout_is_retried_with_the_same_key(store, point):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK)
    store.processor.inject_timeout('capture', point, times=3)    # every attempt of this exit
    store.deliver(gate(GateKind.EXIT, 'x1'))
    assert store.core.receipt('s1') is None
    assert len(store.processor.captures()) == (1 if point is TimeoutPoint.AFTER else 0)
    assert store.core.resolve_unfinished(now_ns=40) == []
    assert store.core.receipt('s1').status is ChargeStatus.CAPTURED
    assert [c.amount_minor for c in store.processor.captures()] == [SODA_AND_MILK_TOTAL]


def test_still_timing_out_sessions_are_reported_unfinished(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK)
    store.processor.inject_timeout('capture', TimeoutPoint.BEFORE, times=6)
    store.deliver(gate(GateKind.EXIT, 'x1'))
    assert store.core.resolve_unfinished(now_ns=40) == ['s1']


def test_receipts_are_published_until_marked(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    [record] = store.core.unpublished_receipts()
    assert record.session_id == 's1'
    store.core.mark_published(record, now_ns=50)
    assert store.core.unpublished_receipts() == []


class Crash(Exception):
    pass


class StepCounter:
    """Counts state changes (ledger writes and gateway requests) and raises `Crash` right
    after the `crash_after`-th one has been applied."""

    CHANGES = {'open_session', 'close_session', 'record', 'authorize', 'capture', 'refund'}

    def __init__(self, crash_after: int | None = None):
        self.crash_after = crash_after
        self.count = 0

    def wrap(self, target):
        counter = self

        class Crashing:
            def __getattr__(self, name):
                attribute = getattr(target, name)
                if name not in StepCounter.CHANGES:
                    return attribute

                def call(*args, **kwargs):
                    result = attribute(*args, **kwargs)
                    counter.count += 1
                    if counter.count == counter.crash_after:
                        raise Crash(f'after step {counter.count}: {name}')
                    return result
                return call
        return Crashing()


CRASH_SESSION = [gate(GateKind.ENTRY, 'e1'), cart(1, ('US-SODA-12', 1)), SODA_AND_MILK,
                 gate(GateKind.EXIT, 'x1'), gate(GateKind.EXIT, 'x2')]


def count_steps(directory: Path) -> int:
    counter = StepCounter()
    store = Store(directory, counter.wrap)
    store.deliver(*CRASH_SESSION)
    store.core.mark_published(store.core.unpublished_receipts()[0], 60)
    store.close()
    return counter.count


def test_step_counter_sees_every_state_change(tmp_path):
    # open, authorize, authorized, cart:1, cart:2, close, charge_intended, capture, outcome,
    # close again (the duplicate exit: a no-op, but a crash can strike there too), published
    assert count_steps(tmp_path) == 11


@pytest.mark.parametrize('crash_after', range(1, 12))
@pytest.mark.parametrize('upstream_redelivers', [True, False])
def test_a_crash_after_any_step_still_charges_exactly_once(tmp_path, crash_after,
                                                            upstream_redelivers):
    counter = StepCounter(crash_after)
    crashed = Store(tmp_path, counter.wrap)
    with pytest.raises(Crash):
        crashed.deliver(*CRASH_SESSION)
        crashed.core.mark_published(crashed.core.unpublished_receipts()[0], 60)
    crashed.close()

    restarted = Store(tmp_path)
    restarted.core.resolve_unfinished(now_ns=100)
    if upstream_redelivers:
        restarted.deliver(*CRASH_SESSION)
    delivered_exit = crash_after >= 6 or upstream_redelivers
    if delivered_exit:
        assert [c.amount_minor for c in restarted.processor.captures()] == [SODA_AND_MILK_TOTAL]
        record = restarted.core.receipt('s1')
        assert record.status is ChargeStatus.CAPTURED
        assert record.payment_reference == restarted.processor.captures()[0].reference
        assert len(restarted.core.unpublished_receipts()) == (0 if crash_after == 11 else 1)
    else:
        assert restarted.processor.captures() == []
    restarted.close()


def refunded(processor) -> list[tuple[int, int]]:
    return [(c.amount_minor, c.refunded_minor) for c in processor.captures()]


def test_a_late_cart_revision_that_removes_an_item_is_refunded_on_its_own_receipt(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    sale = store.core.receipt('s1')
    milk_removed = cart(3, ('US-SODA-12', 2))
    store.deliver(milk_removed, milk_removed)      # a reviewer's decision, and a replay of it
    assert refunded(store.processor) == [(SODA_AND_MILK_TOTAL, 489)]
    assert store.core.receipt('s1') == sale        # the sale's record is never edited
    correction = store.core.unpublished_receipts()[-1]
    assert (correction.kind, correction.status) == (ReceiptKind.REFUND, ChargeStatus.CAPTURED)
    assert correction.receipt_id == f'{STORE}:s1:correction:3'
    assert correction.corrects_receipt_id == sale.receipt_id
    assert [(line.sku, line.quantity, line.line_total_minor, line.tax_minor)
            for line in correction.receipt.lines] == [('US-MILK-GAL', -1, -489, 0)]
    assert correction.receipt.total_minor == -489
    assert correction.payment_reference.startswith('re_')


def test_a_late_cart_revision_that_adds_an_item_is_charged_extra(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    store.deliver(cart(3, ('US-SODA-12', 2), ('US-MILK-GAL', 1), ('US-COFFEE-16', 1)))
    # Taxable 358 + 449 = 807 -> tax 83.52 -> 84, 47 more than the sale's 37.
    assert [c.amount_minor for c in store.processor.captures()] == [SODA_AND_MILK_TOTAL,
                                                                    449 + 47]
    correction = store.core.unpublished_receipts()[-1]
    assert correction.kind is ReceiptKind.ADJUSTMENT and correction.receipt.tax_minor == 47


def test_refunds_beyond_the_sale_take_from_later_adjustments(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), cart(1, ('US-MILK-GAL', 1)),
                  gate(GateKind.EXIT, 'x1'))
    store.deliver(cart(2, ('US-MILK-GAL', 3)))      # +978
    store.deliver(cart(3))                          # everything back: -1467
    assert refunded(store.processor) == [(489, 489), (978, 978)]
    assert sum(r.receipt.total_minor for r in store.core.unpublished_receipts()) == 0


def test_a_cart_waiting_for_review_is_not_corrected_until_decided(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    store.deliver(cart(3, ('US-SODA-12', 2), pending_review=True))
    assert refunded(store.processor) == [(SODA_AND_MILK_TOTAL, 0)]
    store.deliver(cart(4, ('US-SODA-12', 2)))
    assert refunded(store.processor) == [(SODA_AND_MILK_TOTAL, 489)]


def test_a_refund_interrupted_by_a_timeout_is_settled_later(store):
    store.deliver(gate(GateKind.ENTRY, 'e1'), SODA_AND_MILK, gate(GateKind.EXIT, 'x1'))
    store.processor.inject_timeout('refund', TimeoutPoint.AFTER, times=3)
    store.deliver(cart(3, ('US-SODA-12', 2)))
    assert [r.kind for r in store.core.unpublished_receipts()] == [ReceiptKind.SALE]
    store.core.resolve_corrections(now_ns=50, every_session=False)
    assert refunded(store.processor) == [(SODA_AND_MILK_TOTAL, 489)]


CORRECTED = cart(3, ('US-SODA-12', 2))
SALE_STEPS = 11      # the crash session's steps up to and including `published`


@pytest.mark.parametrize('crash_after', range(1, 5))
def test_a_crash_during_a_correction_refunds_exactly_once(tmp_path, crash_after):
    # cart:3, correction:3, refund, correction:3:outcome
    counter = StepCounter(SALE_STEPS + crash_after)
    crashed = Store(tmp_path, counter.wrap)
    with pytest.raises(Crash):
        crashed.deliver(*CRASH_SESSION)
        crashed.core.mark_published(crashed.core.unpublished_receipts()[0], 60)
        assert counter.count == SALE_STEPS
        crashed.deliver(CORRECTED)
    crashed.close()

    restarted = Store(tmp_path)
    restarted.core.resolve_unfinished(now_ns=100)
    restarted.core.resolve_corrections(now_ns=100, every_session=True)
    restarted.deliver(*CRASH_SESSION, CORRECTED)
    assert refunded(restarted.processor) == [(SODA_AND_MILK_TOTAL, 489)]
    assert restarted.core.unpublished_receipts()[-1].receipt.total_minor == -489
    restarted.close()
