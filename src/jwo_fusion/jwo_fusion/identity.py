"""Who a track is: the account scanned at the entry gate, never a face (ROS-free).

An entry scan (GateEvent ENTRY) opens a session for `party_size` people. The tracks born in
that gate's zone are paired with the scans of that gate in arrival order, within a time
window around the scan: a scan and the person who made it appear at the gate together, in
either order, since the detector may see the shopper before or after the app code is read.
A group (party_size > 1) binds that many tracks to one session and one cart.

The binding's confidence says how much choice there was: 1 when exactly one person and one
scan were waiting at the gate, less when several people stood there for fewer scans.
A track that no scan claims in time entered without scanning and is reported; the
sessions scanned at its gate around its birth are kept as the ones it may belong to (a
companion of a party whose code did not say its size, or a scan given to the wrong person),
so that what it takes can be held for a person to assign.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

# The gap given to a track and a scan too far apart to pair: more than any window.
_FAR_S = 1e6


@dataclass(frozen=True)
class EntryScan:
    event_id: str
    session_id: str
    gate_id: str
    account_token: str
    party_size: int
    stamp_s: float


@dataclass(frozen=True)
class Binding:
    track_id: str
    session_id: str
    account_token: str
    confidence: float
    waiting_tracks: tuple[str, ...]       # who else could have made the scan (for review)


@dataclass
class Session:
    scan: EntryScan
    track_ids: list[str] = field(default_factory=list)
    gone_track_ids: set[str] = field(default_factory=set)    # exited or lost
    exited_track_ids: set[str] = field(default_factory=set)
    exited: bool = False                                     # the EXIT event was sent
    exited_s: float | None = None                            # ... at this sensor time

    @property
    def session_id(self) -> str:
        return self.scan.session_id

    @property
    def account_token(self) -> str:
        return self.scan.account_token


@dataclass
class _WaitingTrack:
    track_id: str
    gate_id: str
    born_s: float


class IdentityBinder:
    """Pairs entry scans with the tracks born at their gate.

    A track born within [-scan_before_s, scan_after_s] of a scan (the window grows by
    `party_lag_s` per extra party member) pairs with a scan as the pairing of all waiting
    tracks with all open places that leaves the least time between births and scans in all
    says, once no nearer partner can still turn up: neither a track born nearer the scan nor
    a scan nearer the track's birth, allowing `report_delay_s` for either to reach us.
    (Pairing at once gave a companion who walked in after their party's scan the next
    shopper's scan, and every shopper after them the scan of the one behind.) A track that
    no scan is near waits `scan_before_s` plus `scan_latency_s` (how late the gate may
    report a scan) for its scan to arrive, then takes the nearest scan still open within
    `late_scan_s` before it (a shopper who lingered at the gate), with lower confidence;
    failing that, it entered without scanning.
    """

    def __init__(self, scan_before_s: float = 2.0, scan_after_s: float = 3.0,
                 party_lag_s: float = 1.5, late_scan_s: float = 15.0,
                 report_delay_s: float = 0.5, scan_latency_s: float = 0.0):
        self._report_delay_s = report_delay_s
        self._scan_latency_s = scan_latency_s
        self._scan_before_s = scan_before_s
        self._scan_after_s = scan_after_s
        self._party_lag_s = party_lag_s
        self._late_scan_s = late_scan_s
        self._open_scans: list[list] = []          # [scan, places left]
        self._waiting: list[_WaitingTrack] = []
        self.sessions: dict[str, Session] = {}
        self.session_of_track: dict[str, str] = {}
        self.confidence_of_track: dict[str, float] = {}
        self._unscanned: dict[str, _WaitingTrack] = {}

    def on_scan(self, scan: EntryScan, now_s: float) -> list[Binding]:
        if scan.session_id in self.sessions:
            return []           # a duplicate of a scan already handled
        self.sessions[scan.session_id] = Session(scan)
        self._open_scans.append([scan, max(1, scan.party_size)])
        return self._pair(now_s)

    def on_track_born(self, track_id: str, gate_id: str, born_s: float,
                      now_s: float) -> list[Binding]:
        self._waiting.append(_WaitingTrack(track_id, gate_id, born_s))
        return self._pair(now_s)

    def bind_unseen(self, track_id: str, gate_id: str, born_s: float,
                    scans: list[EntryScan]) -> list[Binding]:
        """A track nobody saw come in (found inside after fusion restarted) takes the one of
        `scans` (made while nobody watched) nearest in time, as a guess for review."""
        options = [entry for entry in self._open_scans if entry[0] in scans]
        if not options:
            return []
        waiting = _WaitingTrack(track_id, gate_id, born_s)
        self._waiting.append(waiting)
        return [self._bind(waiting, min(options, key=lambda e: abs(born_s - e[0].stamp_s)),
                           late=True)]

    def open_scans_between(self, since_s: float, until_s: float) -> list[EntryScan]:
        """Scans made in [since_s, until_s] that still have places for their party."""
        return [entry[0] for entry in self._open_scans if since_s <= entry[0].stamp_s <= until_s]

    def update(self, now_s: float) -> tuple[list[Binding], list[str]]:
        """Late pairings, and the tracks no scan claimed in time (entered without scanning)."""
        bindings = self._pair(now_s)
        unclaimed = [w.track_id for w in self._waiting
                     if self._gave_up_waiting(w, now_s) and not self._late_scans(w)
                     and not any(self._near(entry[0], w) for entry in self._open_scans)]
        self._unscanned.update((w.track_id, w) for w in self._waiting
                               if w.track_id in unclaimed)
        self._waiting = [w for w in self._waiting if w.track_id not in unclaimed]
        self._open_scans = [entry for entry in self._open_scans
                            if now_s - entry[0].stamp_s <= self._late_scan_s + self._window(
                                entry[0])[1]]
        return bindings, unclaimed

    def possible_sessions(self, track_id: str) -> list[str]:
        """Sessions still in the store whose scan, at the gate where this unscanned track was
        born, was near enough in time to have been its own (nearest first)."""
        track = self._unscanned.get(track_id)
        if track is None:
            return []
        near = [(abs(track.born_s - s.scan.stamp_s), s.session_id) for s in self.sessions.values()
                if s.scan.gate_id == track.gate_id and not s.exited and
                -self._scan_before_s <= track.born_s - s.scan.stamp_s
                <= self._late_scan_s + self._window(s.scan)[1]]
        return [session_id for _, session_id in sorted(near)]

    def track_gone(self, track_id: str, exited: bool) -> Session | None:
        """Records that a track exited or was lost; returns its session, once, when every
        member is gone and at least one of them through an exit (the moment to send EXIT)."""
        session = self.sessions.get(self.session_of_track.get(track_id, ''))
        if session is None:
            return None
        session.gone_track_ids.add(track_id)
        if exited:
            session.exited_track_ids.add(track_id)
        if session.exited or not session.exited_track_ids or \
                not set(session.track_ids) <= session.gone_track_ids:
            return None
        session.exited = True
        return session

    def close_lost(self, track_id: str) -> Session | None:
        """The cameras gave up on a lost track; returns its session, once, when every member
        is gone and none was seen leaving: nobody will close it through an exit."""
        session = self.sessions.get(self.session_of_track.get(track_id, ''))
        if session is None or session.exited or \
                not set(session.track_ids) <= session.gone_track_ids:
            return None
        session.exited = True
        return session

    def track_back(self, track_id: str) -> None:
        """A lost track was seen again."""
        session = self.sessions.get(self.session_of_track.get(track_id, ''))
        if session is not None:
            session.gone_track_ids.discard(track_id)

    def reassign(self, track_id: str, session_id: str, confidence: float = 1.0) -> None:
        """A reviewer's answer to an identity question."""
        self._unscanned.pop(track_id, None)
        old = self.sessions.get(self.session_of_track.get(track_id, ''))
        if old is not None and track_id in old.track_ids:
            old.track_ids.remove(track_id)
        self.sessions[session_id].track_ids.append(track_id)
        self.session_of_track[track_id] = session_id
        self.confidence_of_track[track_id] = confidence

    def retire(self, session_id: str) -> None:
        """Forgets a session that left long ago, with its tracks."""
        session = self.sessions.pop(session_id)
        for track_id in session.track_ids:
            if self.session_of_track.get(track_id) == session_id:
                del self.session_of_track[track_id]
                self.confidence_of_track.pop(track_id, None)

    def restore(self, session: Session, confidences: dict[str, float], now_s: float) -> None:
        """A session from the journal. One whose shopper had not been bound yet waits for
        them at the gate again."""
        if not session.track_ids and not session.exited:
            self.on_scan(session.scan, now_s)
            return
        self.sessions[session.session_id] = session
        for track_id in session.track_ids:
            self.session_of_track[track_id] = session.session_id
            self.confidence_of_track[track_id] = confidences.get(track_id, 1.0)

    def _gave_up_waiting(self, waiting: _WaitingTrack, now_s: float) -> bool:
        """No scan of its own can still arrive for this track."""
        return now_s - waiting.born_s > self._scan_before_s + self._scan_latency_s

    def _window(self, scan: EntryScan) -> tuple[float, float]:
        return (-self._scan_before_s,
                self._scan_after_s + self._party_lag_s * (max(1, scan.party_size) - 1))

    def _near(self, scan: EntryScan, waiting: _WaitingTrack) -> bool:
        low, high = self._window(scan)
        return waiting.gate_id == scan.gate_id and low <= waiting.born_s - scan.stamp_s <= high

    def _late_scans(self, waiting: _WaitingTrack) -> list:
        return [entry for entry in self._open_scans if entry[0].gate_id == waiting.gate_id
                and 0 <= waiting.born_s - entry[0].stamp_s <= self._late_scan_s
                + self._window(entry[0])[1]]

    def _pair(self, now_s: float) -> list[Binding]:
        bindings = []
        while True:
            if any(self._near(entry[0], w) for w in self._waiting for entry in self._open_scans):
                chosen = self._settled_pair(now_s)
                if chosen is None:
                    return bindings
                waiting, entry, late = *chosen, False
            else:
                late_options = [(w.born_s - entry[0].stamp_s, w, entry) for w in self._waiting
                                if self._gave_up_waiting(w, now_s)
                                for entry in self._late_scans(w)]
                if not late_options:
                    return bindings
                _, waiting, entry = min(late_options, key=lambda option: option[0])
                late = True
            bindings.append(self._bind(waiting, entry, late))

    def _settled_pair(self, now_s: float):
        """Of the pairing of waiting tracks with open places that leaves the least time
        between births and scans in all (tracks in the order they came take places in the
        order of their scans), the nearest pair that no later arrival can change: no nearer
        partner of either can still be reported, and, if the track could fill an earlier
        scan's empty place instead, nobody can still come in for the later scan. (Nearest
        first gave a party's last member, seen just before the next shopper's scan, that
        shopper's place, and the shopper the party's.)"""
        places = [entry for entry in self._open_scans for _ in range(entry[1])]
        gaps = np.array([[abs(w.born_s - entry[0].stamp_s) if self._near(entry[0], w)
                          else _FAR_S for entry in places] for w in self._waiting])
        pairs = [(row, column) for row, column in zip(*linear_sum_assignment(gaps))
                 if gaps[row, column] < _FAR_S]
        filled = {column for _, column in pairs}
        empty_scans = [places[column][0] for column in range(len(places))
                       if column not in filled]
        settled = []
        for row, column in pairs:
            waiting, scan, gap_s = self._waiting[row], places[column][0], gaps[row, column]
            if now_s < max(scan.stamp_s, waiting.born_s) + gap_s + self._report_delay_s:
                continue
            could_be_earlier = any(other.stamp_s < scan.stamp_s and self._near(other, waiting)
                                   for other in empty_scans)
            if could_be_earlier and \
                    now_s < scan.stamp_s + self._window(scan)[1] + self._report_delay_s:
                continue
            settled.append((gap_s, waiting, places[column]))
        if not settled:
            return None
        _, waiting, entry = min(settled, key=lambda option: option[0])
        return waiting, entry

    def _bind(self, waiting: _WaitingTrack, entry: list, late: bool) -> Binding:
        scan, places = entry
        rivals = [w for w in self._waiting if self._near(scan, w)] or [waiting]
        sessions_near = sum(1 for other, _ in self._open_scans if self._near(other, waiting))
        # Several scans near in time, or more people than places: the nearest is a guess.
        if late:
            confidence = 0.5
        elif sessions_near <= 1:
            confidence = min(1.0, places / len(rivals))
        else:
            confidence = 1.0 / max(sessions_near, len(rivals))
        self._waiting.remove(waiting)
        entry[1] -= 1
        if entry[1] == 0:
            self._open_scans.remove(entry)
        session = self.sessions[scan.session_id]
        session.track_ids.append(waiting.track_id)
        self.session_of_track[waiting.track_id] = scan.session_id
        self.confidence_of_track[waiting.track_id] = confidence
        return Binding(waiting.track_id, scan.session_id, scan.account_token, confidence,
                       tuple(w.track_id for w in rivals))
