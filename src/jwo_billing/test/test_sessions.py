import pytest

from jwo_billing.ledger import Ledger
from jwo_billing.sessions import GateEventData, GateKind, Outcome, handle_gate_event


def gate(kind: GateKind, event_id: str, session_id: str = 'entry-7', stamp_ns: int = 0,
         account_token: str = 'acct-3f9a') -> GateEventData:
    return GateEventData(event_id=event_id, gate_id='entry_1' if kind is GateKind.ENTRY else
                         'exit_1', kind=kind, session_id=session_id, account_token=account_token,
                         party_size=1, track_id='' if kind is GateKind.ENTRY else '12',
                         stamp_ns=stamp_ns)


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / 'ledger' / 'store.sqlite3', 'london_soho')
    yield ledger
    ledger.close()


def steps(ledger, session_id='entry-7'):
    return [e.step for e in ledger.entries(session_id)]


def test_entry_opens_and_exit_closes(ledger):
    assert handle_gate_event(ledger, gate(GateKind.ENTRY, 'entry-7', stamp_ns=5)).outcome \
        is Outcome.OPENED
    assert handle_gate_event(ledger, gate(GateKind.EXIT, 'exit-1', stamp_ns=90)).outcome \
        is Outcome.CLOSED
    session = ledger.session('entry-7')
    assert (session.account_token, session.opened_at_ns, session.closed_at_ns) == \
        ('acct-3f9a', 5, 90)
    assert [e.idempotency_key for e in ledger.entries('entry-7')] == [
        'london_soho:entry-7:open', 'london_soho:entry-7:close']


def test_duplicated_and_replayed_events_change_nothing(ledger):
    handle_gate_event(ledger, gate(GateKind.ENTRY, 'entry-7', stamp_ns=5))
    assert handle_gate_event(ledger, gate(GateKind.ENTRY, 'entry-7', stamp_ns=5)).outcome \
        is Outcome.DUPLICATE
    handle_gate_event(ledger, gate(GateKind.EXIT, 'exit-1', stamp_ns=90))
    # A second exit camera sighting of the same session, and a replay of the whole bag.
    assert handle_gate_event(ledger, gate(GateKind.EXIT, 'exit-2', stamp_ns=95)).outcome \
        is Outcome.DUPLICATE
    assert handle_gate_event(ledger, gate(GateKind.ENTRY, 'entry-7', stamp_ns=5)).outcome \
        is Outcome.DUPLICATE
    assert steps(ledger) == ['open', 'close']
    assert ledger.session('entry-7').closed_at_ns == 90


def test_exit_without_entry_is_kept_for_staff(ledger):
    result = handle_gate_event(ledger, gate(GateKind.EXIT, 'exit-9', session_id='ghost'))
    assert result.outcome is Outcome.EXIT_WITHOUT_ENTRY
    assert 'never entered' in result.reason
    assert ledger.session('ghost') is None
    assert steps(ledger, 'ghost') == ['orphan_exit:exit-9']


def test_exit_overtaking_its_entry_still_closes_the_session(ledger):
    handle_gate_event(ledger, gate(GateKind.EXIT, 'exit-1', stamp_ns=90))
    result = handle_gate_event(ledger, gate(GateKind.ENTRY, 'entry-7', stamp_ns=5))
    assert result.outcome is Outcome.CLOSED
    assert ledger.session('entry-7').closed_at_ns == 90


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / 'store.sqlite3'
    first = Ledger(path, 'london_soho')
    handle_gate_event(first, gate(GateKind.ENTRY, 'entry-7'))
    first.close()
    second = Ledger(path, 'london_soho')
    assert handle_gate_event(second, gate(GateKind.ENTRY, 'entry-7')).outcome \
        is Outcome.DUPLICATE
    assert second._db.execute('PRAGMA journal_mode').fetchone() == ('wal',)
    second.close()


@pytest.mark.parametrize('event', [
    gate(GateKind.ENTRY, 'entry-8', session_id=''),
    gate(GateKind.ENTRY, 'entry-8', session_id='entry-8', account_token=''),
])
def test_malformed_events_are_refused_and_not_recorded(ledger, event):
    result = handle_gate_event(ledger, event)
    assert result.outcome is Outcome.REFUSED and result.reason
    assert ledger.entries() == []
