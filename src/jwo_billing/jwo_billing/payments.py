"""The payment gateway interface and a local sandbox processor with a real one's semantics.

Authorise a hold at entry, capture the receipt's total at exit, refund on a correction,
as card networks and Stripe do. Every request carries an idempotency key: sending the same
key again returns the first result and changes nothing, which is what lets the billing
core retry after a timeout or a crash without charging twice. Reusing a key for a
different request is an error (`IdempotencyConflict`), as it would be a bug.

Capturing more than the hold: the sandbox treats it as an incremental authorisation
(how card networks handle a bill that grew, e.g. at hotels and fuel pumps): it is approved
up to the account's limit and declined above it. The shopper walked out with the goods, so
charging the real total (or declining it visibly) beats silently charging only the hold.

`SandboxProcessor` keeps its state in its own SQLite file, apart from our ledger: it stands
in for a remote service, so it must outlive our crashes. Faults are injected on purpose:
accounts whose token matches `decline_pattern` are declined, and `inject_timeout` makes
the next request(s) of an operation raise `GatewayTimeout` before or after applying them.
"""

from __future__ import annotations

import enum
import json
import re
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class GatewayTimeout(Exception):
    """No answer in time: the request may or may not have been applied. Retry it with the
    same idempotency key to learn which."""


class IdempotencyConflict(ValueError):
    """An idempotency key reused for a different request."""


class PaymentStatus(enum.Enum):
    APPROVED = 'approved'
    DECLINED = 'declined'


@dataclass(frozen=True)
class PaymentResult:
    status: PaymentStatus
    reference: str            # the processor's id of the hold, capture or refund ('' if declined)
    amount_minor: int
    reason: str = ''          # why it was declined

    @property
    def approved(self) -> bool:
        return self.status is PaymentStatus.APPROVED


class PaymentGateway(Protocol):
    def authorize(self, idempotency_key: str, account_token: str, amount_minor: int,
                  currency: str) -> PaymentResult: ...

    def capture(self, idempotency_key: str, authorization: str,
                amount_minor: int) -> PaymentResult: ...

    def refund(self, idempotency_key: str, capture: str, amount_minor: int) -> PaymentResult: ...


class TimeoutPoint(enum.Enum):
    BEFORE = 'before'         # the request never reached the processor
    AFTER = 'after'           # applied, but the answer was lost


_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    idempotency_key TEXT PRIMARY KEY,
    operation       TEXT NOT NULL,
    request         TEXT NOT NULL,
    result          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS authorizations (
    reference       TEXT PRIMARY KEY,
    account_token   TEXT NOT NULL,
    currency        TEXT NOT NULL,
    held_minor      INTEGER NOT NULL,
    captured        INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS captures (
    reference       TEXT PRIMARY KEY,
    authorization   TEXT NOT NULL UNIQUE,
    amount_minor    INTEGER NOT NULL,
    refunded_minor  INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True)
class Capture:
    reference: str
    authorization: str
    account_token: str
    amount_minor: int
    refunded_minor: int


class SandboxProcessor:
    def __init__(self, path: Path, decline_pattern: str = r'^decline-',
                 account_limit_minor: int = 100_000):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._decline = re.compile(decline_pattern)
        self._account_limit_minor = account_limit_minor
        self._timeouts: list[tuple[str, TimeoutPoint]] = []
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=FULL')
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def inject_timeout(self, operation: str, point: TimeoutPoint, times: int = 1) -> None:
        """The next `times` requests of `operation` ('authorize', 'capture', 'refund')
        time out at `point`."""
        self._timeouts.extend([(operation, point)] * times)

    def authorize(self, idempotency_key: str, account_token: str, amount_minor: int,
                  currency: str) -> PaymentResult:
        def apply() -> PaymentResult:
            if self._decline.search(account_token):
                return _declined(amount_minor, 'card declined')
            if amount_minor > self._account_limit_minor:
                return _declined(amount_minor, 'insufficient funds')
            reference = f'auth_{uuid.uuid4().hex[:16]}'
            self._db.execute('INSERT INTO authorizations (reference, account_token, currency, '
                             'held_minor) VALUES (?, ?, ?, ?)',
                             (reference, account_token, currency, amount_minor))
            return PaymentResult(PaymentStatus.APPROVED, reference, amount_minor)
        return self._request('authorize', idempotency_key, {
            'account_token': account_token, 'amount_minor': amount_minor, 'currency': currency},
            apply)

    def capture(self, idempotency_key: str, authorization: str,
                amount_minor: int) -> PaymentResult:
        def apply() -> PaymentResult:
            row = self._db.execute('SELECT held_minor, captured FROM authorizations '
                                   'WHERE reference = ?', (authorization,)).fetchone()
            if row is None:
                return _declined(amount_minor, f'no authorisation {authorization!r}')
            held_minor, captured = row
            if captured:
                return _declined(amount_minor, 'authorisation already captured')
            if amount_minor < 0:
                return _declined(amount_minor, 'negative amount')
            if amount_minor > max(held_minor, self._account_limit_minor):
                return _declined(amount_minor, 'incremental authorisation declined: '
                                 'insufficient funds')
            reference = f'cap_{uuid.uuid4().hex[:16]}'
            self._db.execute('UPDATE authorizations SET captured = 1 WHERE reference = ?',
                             (authorization,))
            self._db.execute('INSERT INTO captures (reference, authorization, amount_minor) '
                             'VALUES (?, ?, ?)', (reference, authorization, amount_minor))
            return PaymentResult(PaymentStatus.APPROVED, reference, amount_minor)
        return self._request('capture', idempotency_key, {
            'authorization': authorization, 'amount_minor': amount_minor}, apply)

    def refund(self, idempotency_key: str, capture: str, amount_minor: int) -> PaymentResult:
        def apply() -> PaymentResult:
            row = self._db.execute('SELECT amount_minor, refunded_minor FROM captures '
                                   'WHERE reference = ?', (capture,)).fetchone()
            if row is None:
                return _declined(amount_minor, f'no capture {capture!r}')
            if not 0 < amount_minor <= row[0] - row[1]:
                return _declined(amount_minor, f'refund must be 1..{row[0] - row[1]}')
            self._db.execute('UPDATE captures SET refunded_minor = refunded_minor + ? '
                             'WHERE reference = ?', (amount_minor, capture))
            return PaymentResult(PaymentStatus.APPROVED, f're_{uuid.uuid4().hex[:16]}',
                                 amount_minor)
        return self._request('refund', idempotency_key, {
            'capture': capture, 'amount_minor': amount_minor}, apply)

    def captures(self) -> list[Capture]:
        """Every capture, for reconciliation and tests."""
        rows = self._db.execute(
            'SELECT c.reference, c.authorization, a.account_token, c.amount_minor, '
            'c.refunded_minor FROM captures c JOIN authorizations a '
            'ON a.reference = c.authorization ORDER BY c.rowid')
        return [Capture(*row) for row in rows]

    def _take_timeout(self, operation: str, point: TimeoutPoint) -> bool:
        if (operation, point) in self._timeouts:
            self._timeouts.remove((operation, point))
            return True
        return False

    def _request(self, operation: str, key: str, request: dict, apply) -> PaymentResult:
        if self._take_timeout(operation, TimeoutPoint.BEFORE):
            raise GatewayTimeout(f'{operation} {key}: no answer (not applied)')
        result = self._apply_once(operation, key, json.dumps(request, sort_keys=True), apply)
        if self._take_timeout(operation, TimeoutPoint.AFTER):
            raise GatewayTimeout(f'{operation} {key}: no answer (applied)')
        return result

    def _apply_once(self, operation: str, key: str, request_text: str, apply) -> PaymentResult:
        self._db.execute('BEGIN IMMEDIATE')
        try:
            row = self._db.execute('SELECT operation, request, result FROM requests '
                                   'WHERE idempotency_key = ?', (key,)).fetchone()
            if row is None:
                result = apply()
                self._db.execute(
                    'INSERT INTO requests (idempotency_key, operation, request, result) '
                    'VALUES (?, ?, ?, ?)',
                    (key, operation, request_text, json.dumps(_record(result))))
                self._db.execute('COMMIT')
                return result
            self._db.execute('ROLLBACK')
        except BaseException:
            self._db.execute('ROLLBACK')
            raise
        if (row[0], row[1]) != (operation, request_text):
            raise IdempotencyConflict(f'idempotency key {key!r} was used for {row[0]} {row[1]}, '
                                      f'now {operation} {request_text}')
        return _result(json.loads(row[2]))


def _declined(amount_minor: int, reason: str) -> PaymentResult:
    return PaymentResult(PaymentStatus.DECLINED, '', amount_minor, reason)


def _record(result: PaymentResult) -> dict:
    return {'status': result.status.value, 'reference': result.reference,
            'amount_minor': result.amount_minor, 'reason': result.reason}


def _result(record: dict) -> PaymentResult:
    return PaymentResult(PaymentStatus(record['status']), record['reference'],
                         record['amount_minor'], record['reason'])
