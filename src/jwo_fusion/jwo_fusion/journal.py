"""Fusion's journal (ROS-free): the `FusionRecord` in SQLite, so a fusion process that is
killed and restarted keeps every session, cart, counted shelf event and review request
(a decision made after the restart still applies), and picks the shoppers who were inside
back up.

The node saves the record before it publishes a cart or an exit (what billing has seen is
never newer than what the journal holds) and every publish period (where shoppers are).
One row, replaced in one transaction: a crash leaves the previous record or the new one.
The record is JSON, not pickle: a journal file must not be able to run code. Each shopper's
recent positions and reaches, most of a record, are packed as little-endian float64 rows in
base64: the same floats, several times faster to write than JSON numbers, and smaller.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
from pathlib import Path

import numpy as np

from jwo_fusion.attribution import EventKind, ItemCandidate, ShelfActivity
from jwo_fusion.carts import CartRecord, Contribution
from jwo_fusion.fusion import FusionRecord, Outage, TrackRecord
from jwo_fusion.identity import EntryScan, Session
from jwo_fusion.review import (ReviewDecisionData, ReviewReason, ReviewRequestData,
                               ReviewShare, SessionCandidate)

FORMAT = 5
# 1: before review requests were journalled; 2: before shelf outages were; 3: before
# finished sessions were forgotten (no exit times, the counted shelf events without theirs);
# 4: before track histories were packed (lists of numbers)
READABLE_FORMATS = (1, 2, 3, 4, 5)
# A track's history rows: positions (t, x, y), reaches (t, x, y, z).
_HISTORY_WIDTHS = {'positions': 3, 'reaches': 4}


class JournalError(ValueError):
    """A journal that cannot be read back; the message names the file."""


def encode(record: FusionRecord) -> str:
    return json.dumps({
        'format': FORMAT,
        'now_s': record.now_s,
        'sessions': [{'scan': s.scan, 'track_ids': s.track_ids,
                      'gone_track_ids': sorted(s.gone_track_ids),
                      'exited_track_ids': sorted(s.exited_track_ids), 'exited': s.exited,
                      'exited_s': s.exited_s}
                     for s in record.sessions],
        'confidences': record.confidences,
        'carts': [{'session_id': c.session_id, 'account_token': c.account_token,
                   'revision': c.revision, 'stamp_s': c.stamp_s,
                   'contributions': c.contributions,
                   'pending_events': sorted(c.pending_events)} for c in record.carts],
        'seen_events': record.seen_events,
        'tracks': [{**_fields(t), **{key: _pack(getattr(t, key), width)
                                     for key, width in _HISTORY_WIDTHS.items()}}
                   for t in record.tracks],
        'reviews': record.reviews,
        'decisions': record.decisions,
        'held_sessions': record.held_sessions,
        'outages': record.outages,
        'entries_forgotten_until_s': record.entries_forgotten_until_s,
    }, separators=(',', ':'), default=_fields)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _fields(value) -> dict:
    """For json.dumps: a dataclass as the dict of its fields, what `dataclasses.asdict` makes
    without its deep copy of every value (nine tenths of the time of saving a record)."""
    kind = type(value)
    names = _FIELD_NAMES.get(kind)
    if names is None:
        if not dataclasses.is_dataclass(kind):
            raise TypeError(f'{kind.__name__} cannot be journalled')
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))
    return {name: getattr(value, name) for name in names}


def _pack(rows: tuple[tuple[float, ...], ...], width: int) -> str:
    return base64.b64encode(np.asarray(rows, '<f8').reshape(-1, width).tobytes()).decode()


def _history(value, width: int) -> tuple[tuple[float, ...], ...]:
    """A track's positions or reaches: packed (format 5) or a list of rows (older)."""
    if not isinstance(value, str):
        return tuple(tuple(row) for row in value)
    rows = np.frombuffer(base64.b64decode(value, validate=True), '<f8')
    if rows.size % width:
        raise ValueError(f'a packed track history of {rows.size} numbers, not rows of {width}')
    return tuple(map(tuple, rows.reshape(-1, width).tolist()))


def _activity(document: dict | None) -> ShelfActivity | None:
    if document is None:
        return None
    return ShelfActivity(document['event_id'], document['shelf_id'], tuple(document['slot_ids']),
                         EventKind(document['kind']), float(document['started_s']),
                         float(document['settled_s']), float(document['delta_grams']),
                         tuple(ItemCandidate(**c) for c in document['candidates']),
                         document.get('lifted_s'))


def _request(document: dict) -> ReviewRequestData:
    return ReviewRequestData(
        document['request_id'], ReviewReason(document['reason']), float(document['confidence']),
        _activity(document['activity']),
        tuple(SessionCandidate(**c) for c in document['candidates']), document['description'],
        float(document['stamp_s']), document['track_id'])


def _decision(document: dict) -> ReviewDecisionData:
    return ReviewDecisionData(document['request_id'], document['reviewer_id'],
                              bool(document['dismissed']), document['session_id'],
                              tuple(ItemCandidate(**i) for i in document['items']),
                              tuple(ReviewShare(s['session_id'],
                                                tuple(ItemCandidate(**i) for i in s['items']))
                                    for s in document.get('shares', [])))   # older: none


def decode(text: str) -> FusionRecord:
    document = json.loads(text)
    if document.get('format') not in READABLE_FORMATS:
        raise ValueError(f'format {document.get("format")!r}, expected one of '
                         f'{READABLE_FORMATS}')
    now_s = float(document['now_s'])
    seen_events = document['seen_events']
    if isinstance(seen_events, list):       # format 3 and older: counted as of now
        seen_events = dict.fromkeys(seen_events, now_s)
    return FusionRecord(
        now_s=now_s,
        sessions=tuple(Session(EntryScan(**s['scan']), list(s['track_ids']),
                               set(s['gone_track_ids']), set(s['exited_track_ids']),
                               bool(s['exited']),
                               s.get('exited_s', now_s if s['exited'] else None))
                       for s in document['sessions']),
        confidences={k: float(v) for k, v in document['confidences'].items()},
        carts=tuple(CartRecord(c['session_id'], c['account_token'], int(c['revision']),
                               float(c['stamp_s']),
                               {event_id: tuple(Contribution(**part) for part in parts)
                                for event_id, parts in c['contributions'].items()},
                               set(c['pending_events'])) for c in document['carts']),
        seen_events={event_id: float(t) for event_id, t in seen_events.items()},
        tracks=tuple(TrackRecord(**{**t, 'suspects': tuple(t.get('suspects', ())),
                                    **{key: _history(t.get(key, ()), width)
                                       for key, width in _HISTORY_WIDTHS.items()}})
                     for t in document['tracks']),
        reviews=tuple(_request(r) for r in document.get('reviews', [])),
        decisions=tuple(_decision(d) for d in document.get('decisions', [])),
        held_sessions={e: tuple(s) for e, s in document.get('held_sessions', {}).items()},
        outages=tuple(Outage(**o) for o in document.get('outages', [])),
        entries_forgotten_until_s=float(document.get('entries_forgotten_until_s', 0.0)))


class FusionJournal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute('PRAGMA journal_mode=WAL')
        self._db.execute('PRAGMA synchronous=FULL')    # carts are money
        self._db.execute('CREATE TABLE IF NOT EXISTS record '
                         '(id INTEGER PRIMARY KEY CHECK (id = 1), document TEXT NOT NULL)')
        self._last = None

    def load(self) -> FusionRecord | None:
        row = self._db.execute('SELECT document FROM record WHERE id = 1').fetchone()
        if row is None:
            return None
        try:
            return decode(row[0])
        except (ValueError, KeyError, TypeError) as error:
            raise JournalError(f'{self.path}: cannot read the fusion journal: {error}') from None

    def save(self, record: FusionRecord) -> None:
        document = encode(record)
        if document == self._last:
            return
        self._db.execute('INSERT OR REPLACE INTO record (id, document) VALUES (1, ?)',
                         (document,))
        self._last = document

    def close(self) -> None:
        self._db.close()
