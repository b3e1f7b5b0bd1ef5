"""The sandbox processor behaves like a real one: holds, captures, refunds, idempotency
keys that replay, declines and timeouts, and state that outlives our process."""

import pytest

from jwo_billing.payments import (GatewayTimeout, IdempotencyConflict, PaymentStatus,
                                  SandboxProcessor, TimeoutPoint)


@pytest.fixture
def path(tmp_path):
    return tmp_path / 'processor' / 'sandbox.sqlite3'


@pytest.fixture
def processor(path):
    processor = SandboxProcessor(path, account_limit_minor=20_000)
    yield processor
    processor.close()


def test_hold_capture_and_refund(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    assert hold.approved and hold.reference.startswith('auth_') and hold.amount_minor == 5000
    capture = processor.capture('s:1:capture', hold.reference, 1234)
    assert capture.approved and capture.amount_minor == 1234
    refund = processor.refund('s:1:refund:1', capture.reference, 234)
    assert refund.approved
    [recorded] = processor.captures()
    assert (recorded.account_token, recorded.amount_minor, recorded.refunded_minor) == \
        ('acct-1', 1234, 234)
    assert not processor.refund('s:1:refund:2', capture.reference, 1001).approved


def test_the_same_key_replays_the_first_result(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    assert processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP') == hold
    capture = processor.capture('s:1:capture', hold.reference, 900)
    assert processor.capture('s:1:capture', hold.reference, 900) == capture
    assert len(processor.captures()) == 1


def test_a_key_reused_for_another_request_is_refused(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    processor.capture('s:1:capture', hold.reference, 900)
    with pytest.raises(IdempotencyConflict, match='s:1:capture'):
        processor.capture('s:1:capture', hold.reference, 901)


def test_an_authorisation_is_captured_once(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    processor.capture('s:1:capture', hold.reference, 900)
    second = processor.capture('s:1:capture-again', hold.reference, 900)
    assert second.status is PaymentStatus.DECLINED and 'already captured' in second.reason
    assert len(processor.captures()) == 1


def test_capture_above_the_hold_is_an_incremental_authorisation(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    assert processor.capture('s:1:capture', hold.reference, 7500).approved
    other = processor.authorize('s:2:authorize', 'acct-2', 5000, 'GBP')
    over_limit = processor.capture('s:2:capture', other.reference, 20_001)
    assert not over_limit.approved and 'insufficient funds' in over_limit.reason


def test_declined_accounts(processor):
    result = processor.authorize('s:1:authorize', 'decline-77', 5000, 'GBP')
    assert result.status is PaymentStatus.DECLINED and result.reason == 'card declined'
    assert not result.reference
    # The decline is the recorded answer for that key.
    assert processor.authorize('s:1:authorize', 'decline-77', 5000, 'GBP') == result


def test_timeout_before_applying_leaves_nothing_behind(processor):
    processor.inject_timeout('authorize', TimeoutPoint.BEFORE)
    with pytest.raises(GatewayTimeout, match='not applied'):
        processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    assert hold.approved


def test_timeout_after_applying_is_resolved_by_retrying_the_same_key(processor):
    hold = processor.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    processor.inject_timeout('capture', TimeoutPoint.AFTER)
    with pytest.raises(GatewayTimeout, match='applied'):
        processor.capture('s:1:capture', hold.reference, 900)
    retried = processor.capture('s:1:capture', hold.reference, 900)
    assert retried.approved
    assert [c.reference for c in processor.captures()] == [retried.reference]


def test_state_outlives_the_caller(path):
    first = SandboxProcessor(path)
    hold = first.authorize('s:1:authorize', 'acct-1', 5000, 'GBP')
    capture = first.capture('s:1:capture', hold.reference, 900)
    first.close()
    second = SandboxProcessor(path)
    assert second.capture('s:1:capture', hold.reference, 900) == capture
    assert len(second.captures()) == 1
    second.close()
