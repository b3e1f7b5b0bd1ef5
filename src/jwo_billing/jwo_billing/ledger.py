"""The billing ledger: an append-only record of every session state change, in SQLite (WAL).

Each change is written once under an idempotency key `<store>:<session>:<step>`; writing
the same key again is a no-op that returns the first record, so replayed or duplicated
gate events, node restarts and bag replays never record a step twice.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id      TEXT PRIMARY KEY,
    store_id        TEXT NOT NULL,
    account_token   TEXT NOT NULL,
    opened_at_ns    INTEGER NOT NULL,
    closed_at_ns    INTEGER
);
CREATE TABLE IF NOT EXISTS entries (
    sequence        INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    session_id      TEXT NOT NULL,
    step            TEXT NOT NULL,
    at_ns           INTEGER NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_session ON entries (session_id);
CREATE INDEX IF NOT EXISTS entries_by_step ON entries (step);
"""


@dataclass(frozen=True)
class LedgerEntry:
    sequence: int
    idempotency_key: str
    session_id: str
    step: str
    at_ns: int
    detail: dict


@dataclass(frozen=True)
class Session:
    session_id: str
    store_id: str
    account_token: str
    opened_at_ns: int
    closed_at_ns: int | None


class Ledger:
    def __init__(self, path: Path, store_id: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.store_id = store_id
        # Autocommit off: each change is one explicit transaction.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=FULL')   # money: a commit survives power loss
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def key(self, session_id: str, step: str) -> str:
        return f'{self.store_id}:{session_id}:{step}'

    def _record(self, session_id: str, step: str, at_ns: int, detail: dict,
                session_change: tuple[str, tuple] | None = None) -> tuple[LedgerEntry, bool]:
        """Appends an entry (and applies `session_change`) atomically unless its key exists.
        Returns the entry under that key and whether it is new."""
        key = self.key(session_id, step)
        self._db.execute('BEGIN IMMEDIATE')
        try:
            existing = self._entry_by_key(key)
            if existing is not None:
                self._db.execute('ROLLBACK')
                return existing, False
            if session_change is not None:
                self._db.execute(*session_change)
            self._db.execute(
                'INSERT INTO entries (idempotency_key, session_id, step, at_ns, detail) '
                'VALUES (?, ?, ?, ?, ?)',
                (key, session_id, step, at_ns, json.dumps(detail, sort_keys=True)))
            self._db.execute('COMMIT')
        except BaseException:
            self._db.execute('ROLLBACK')
            raise
        return self._entry_by_key(key), True

    def open_session(self, session_id: str, account_token: str, at_ns: int,
                     detail: dict) -> tuple[LedgerEntry, bool]:
        return self._record(session_id, 'open', at_ns, detail, (
            'INSERT INTO sessions (session_id, store_id, account_token, opened_at_ns) '
            'VALUES (?, ?, ?, ?)', (session_id, self.store_id, account_token, at_ns)))

    def close_session(self, session_id: str, at_ns: int,
                      detail: dict) -> tuple[LedgerEntry, bool]:
        return self._record(session_id, 'close', at_ns, detail, (
            'UPDATE sessions SET closed_at_ns = ? WHERE session_id = ?', (at_ns, session_id)))

    def record(self, session_id: str, step: str, at_ns: int,
               detail: dict) -> tuple[LedgerEntry, bool]:
        """An entry with no session change (e.g. an exit nobody entered for)."""
        return self._record(session_id, step, at_ns, detail)

    def session(self, session_id: str) -> Session | None:
        row = self._db.execute(
            'SELECT session_id, store_id, account_token, opened_at_ns, closed_at_ns '
            'FROM sessions WHERE session_id = ?', (session_id,)).fetchone()
        return Session(*row) if row else None

    def sessions(self) -> list[Session]:
        rows = self._db.execute(
            'SELECT session_id, store_id, account_token, opened_at_ns, closed_at_ns '
            'FROM sessions ORDER BY opened_at_ns, session_id')
        return [Session(*row) for row in rows]

    def entries(self, session_id: str | None = None) -> list[LedgerEntry]:
        query = 'SELECT sequence, idempotency_key, session_id, step, at_ns, detail FROM entries'
        rows = self._db.execute(query + ' WHERE session_id = ? ORDER BY sequence', (session_id,)) \
            if session_id is not None else self._db.execute(query + ' ORDER BY sequence')
        return [LedgerEntry(*row[:5], json.loads(row[5])) for row in rows]

    def entry(self, session_id: str, step: str) -> LedgerEntry | None:
        return self._entry_by_key(self.key(session_id, step))

    def session_ids_without(self, steps: tuple[str, ...]) -> list[str]:
        """Sessions (in opening order) that have none of `steps` recorded."""
        marks = ','.join('?' * len(steps))
        rows = self._db.execute(
            f'SELECT session_id FROM sessions WHERE session_id NOT IN (SELECT session_id '
            f'FROM entries WHERE step IN ({marks})) ORDER BY opened_at_ns, session_id', steps)
        return [row[0] for row in rows]

    def session_ids_with_without(self, present: str, absent: str) -> list[str]:
        """Sessions that have step `present` but not step `absent`, in the order `present`
        was recorded."""
        rows = self._db.execute(
            'SELECT session_id FROM entries WHERE step = ? AND session_id NOT IN '
            '(SELECT session_id FROM entries WHERE step = ?) ORDER BY sequence', (present, absent))
        return [row[0] for row in rows]

    def steps_like(self, pattern: str) -> list[tuple[str, str]]:
        """(session, step) of every entry whose step matches the SQL LIKE `pattern`, in
        recording order."""
        return self._db.execute('SELECT session_id, step FROM entries WHERE step LIKE ? '
                                'ORDER BY sequence', (pattern,)).fetchall()

    def _entry_by_key(self, key: str) -> LedgerEntry | None:
        row = self._db.execute(
            'SELECT sequence, idempotency_key, session_id, step, at_ns, detail FROM entries '
            'WHERE idempotency_key = ?', (key,)).fetchone()
        return LedgerEntry(*row[:5], json.loads(row[5])) if row else None
