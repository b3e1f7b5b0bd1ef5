"""Shopping sessions from gate events: an entry scan opens one, an exit closes it.

Every outcome is recorded in the ledger first, so a duplicated, replayed or out-of-order
gate event, or a restart of the node, changes nothing that was already decided.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from jwo_billing.ledger import Ledger


class GateKind(enum.Enum):
    ENTRY = 'entry'
    EXIT = 'exit'


@dataclass(frozen=True)
class GateEventData:
    event_id: str
    gate_id: str
    kind: GateKind
    session_id: str
    account_token: str
    party_size: int
    track_id: str
    stamp_ns: int


class Outcome(enum.Enum):
    OPENED = 'opened'
    CLOSED = 'closed'
    DUPLICATE = 'duplicate'              # this step was already recorded: nothing changes
    EXIT_WITHOUT_ENTRY = 'exit_without_entry'
    REFUSED = 'refused'                  # malformed event, recorded nowhere


@dataclass(frozen=True)
class GateResult:
    outcome: Outcome
    session_id: str
    reason: str = ''


def handle_gate_event(ledger: Ledger, event: GateEventData) -> GateResult:
    if not event.session_id:
        return GateResult(Outcome.REFUSED, '', f'gate event {event.event_id!r} has no session id')
    detail = {'event_id': event.event_id, 'gate_id': event.gate_id, 'track_id': event.track_id,
              'party_size': event.party_size}
    if event.kind is GateKind.ENTRY:
        if not event.account_token:
            return GateResult(Outcome.REFUSED, event.session_id,
                              f'entry {event.event_id!r} has no account token')
        _, new = ledger.open_session(event.session_id, event.account_token, event.stamp_ns, detail)
        if not new:
            return GateResult(Outcome.DUPLICATE, event.session_id)
        # The exit overtook the entry on the network: close the session it belongs to.
        early_exit = next((e for e in ledger.entries(event.session_id)
                           if e.step.startswith('orphan_exit:')), None)
        if early_exit is not None:
            ledger.close_session(event.session_id, early_exit.at_ns, early_exit.detail)
            return GateResult(Outcome.CLOSED, event.session_id, 'entry arrived after its exit')
        return GateResult(Outcome.OPENED, event.session_id)

    if ledger.session(event.session_id) is None:
        # Kept on record for staff: someone left whom no entry scan accounts for.
        ledger.record(event.session_id, f'orphan_exit:{event.event_id}', event.stamp_ns, detail)
        return GateResult(Outcome.EXIT_WITHOUT_ENTRY, event.session_id,
                          f'exit {event.event_id!r} for session {event.session_id!r} '
                          'that never entered')
    _, new = ledger.close_session(event.session_id, event.stamp_ns, detail)
    return GateResult(Outcome.CLOSED if new else Outcome.DUPLICATE, event.session_id)
