"""The billing ledger: an append-only record of every session state change.

Each change is written once under an idempotency key `<store>:<session>:<step>`; writing
the same key again is a no-op that returns the first record, so replayed or duplicated
gate events, node restarts and bag replays never record a step twice.

Two backends behind the same class: SQLite in WAL mode with full fsync (the embedded
default: `Ledger(path, store)`) and PostgreSQL (`Ledger.postgresql(dsn, store)`, one
database or schema per store). Both make "insert the entry unless its key exists, and
apply its session change only if it was new" one transaction, with the unique key doing
the deciding, so a concurrent writer (the `billing_ledger` command) cannot double a step.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from jwo_common.store_config import SqliteLedger, StoreConfig

_SESSIONS = """
CREATE TABLE IF NOT EXISTS sessions (
    session_id      TEXT PRIMARY KEY,
    store_id        TEXT NOT NULL,
    account_token   TEXT NOT NULL,
    opened_at_ns    BIGINT NOT NULL,
    closed_at_ns    BIGINT
)"""
_ENTRIES = """
CREATE TABLE IF NOT EXISTS entries (
    sequence        {sequence},
    idempotency_key TEXT NOT NULL UNIQUE,
    session_id      TEXT NOT NULL,
    step            TEXT NOT NULL,
    at_ns           BIGINT NOT NULL,
    detail          TEXT NOT NULL
)"""
_SQLITE_BUSY_S = 10.0
_INDEXES = ['CREATE INDEX IF NOT EXISTS entries_by_session ON entries (session_id)',
            'CREATE INDEX IF NOT EXISTS entries_by_step ON entries (step)']


class _Sqlite:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit off: each change is one explicit transaction.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=_SQLITE_BUSY_S)
        self._db.execute('PRAGMA synchronous=FULL')   # money: a commit survives power loss
        self._create_schema()

    def _create_schema(self) -> None:
        # Switching to WAL does not wait on SQLite's busy handler: processes opening a new
        # ledger at the same moment get 'database is locked' at once, so retry until the
        # busy timeout has passed.
        deadline = time.monotonic() + _SQLITE_BUSY_S
        while True:
            try:
                self._db.execute('PRAGMA journal_mode=WAL')
                with self.transaction():
                    for statement in [_SESSIONS, _ENTRIES.format(
                            sequence='INTEGER PRIMARY KEY AUTOINCREMENT'), *_INDEXES]:
                        self._db.execute(statement)
                return
            except sqlite3.OperationalError as error:
                if 'locked' not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def execute(self, sql: str, parameters: tuple = ()):
        return self._db.execute(sql, parameters)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute('BEGIN IMMEDIATE')    # take the write lock now, not at first write
        try:
            yield
        except BaseException:
            self._db.execute('ROLLBACK')
            raise
        self._db.execute('COMMIT')

    def close(self) -> None:
        self._db.close()


class _Postgresql:
    def __init__(self, dsn: str):
        import psycopg    # only where a PostgreSQL ledger is configured
        self._db = psycopg.connect(dsn, autocommit=True)
        with self.transaction():
            # Concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's catalogue;
            # the first process to start creates the tables while the others wait.
            self._db.execute('SELECT pg_advisory_xact_lock(4242)')
            for statement in [_SESSIONS, _ENTRIES.format(
                    sequence='BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY'), *_INDEXES]:
                self._db.execute(statement)

    def execute(self, sql: str, parameters: tuple = ()):
        return self._db.execute(sql.replace('?', '%s'), parameters)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._db.transaction():
            yield

    def close(self) -> None:
        self._db.close()


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
    def __init__(self, path: Path, store_id: str, *, _database=None):
        self.store_id = store_id
        self._db = _database or _Sqlite(path)

    @classmethod
    def postgresql(cls, dsn: str, store_id: str) -> Ledger:
        return cls(Path(), store_id, _database=_Postgresql(dsn))

    def close(self) -> None:
        self._db.close()

    def key(self, session_id: str, step: str) -> str:
        return f'{self.store_id}:{session_id}:{step}'

    def _record(self, session_id: str, step: str, at_ns: int, detail: dict,
                session_change: tuple[str, tuple] | None = None) -> tuple[LedgerEntry, bool]:
        """Appends an entry (and applies `session_change`) atomically unless its key exists.
        Returns the entry under that key and whether it is new."""
        key = self.key(session_id, step)
        with self._db.transaction():
            inserted = self._db.execute(
                'INSERT INTO entries (idempotency_key, session_id, step, at_ns, detail) '
                'VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING',
                (key, session_id, step, at_ns, json.dumps(detail, sort_keys=True))).rowcount
            if inserted and session_change is not None:
                self._db.execute(*session_change)
        return self._entry_by_key(key), bool(inserted)

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


def open_store_ledger(config: StoreConfig, sqlite_path: Path | None = None) -> Ledger:
    """The ledger the store config names (`billing.ledger`), or the SQLite file
    `sqlite_path` instead. A database that cannot be reached is a one-line ValueError."""
    if sqlite_path is not None:
        return Ledger(sqlite_path, config.store.id)
    settings = config.billing.ledger
    if isinstance(settings, SqliteLedger):
        return Ledger(config.resolve_path(settings.path), config.store.id)
    import psycopg
    try:
        return Ledger.postgresql(settings.dsn, config.store.id)
    except psycopg.Error as error:
        reason = ' '.join(str(error).split())
        raise ValueError(f'{config.source_path}: billing.ledger.dsn: cannot open the '
                         f'PostgreSQL ledger: {reason}') from None
