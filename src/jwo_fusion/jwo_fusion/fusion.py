"""The whole of fusion, ROS-free: camera detections, entry scans, shelf events and review
decisions in; tracked shoppers, carts, exit events, review requests and alerts out.

The node (and the evaluation script, and the benchmark) feed this one object, each input
with its own sensor time; `now_s` is the newest sensor time seen, never a wall clock.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from jwo_common.store_config import StoreConfig
from jwo_fusion.attribution import (AttributionSettings, EventKind, ShelfActivity,
                                    after_own_lift, attribute, put_back_item,
                                    slot_front_points)
from jwo_fusion.carts import CartBook, CartRecord, CartSnapshot, Contribution
from jwo_fusion.identity import Binding, EntryScan, IdentityBinder, Session
from jwo_fusion.review import (ReviewDecisionData, ReviewQueue, ReviewReason, ReviewRequestData,
                               ReviewSettings, SessionCandidate, identity_request_id,
                               lost_request_id, review_reason, shelf_request_id)
from jwo_fusion.tracker import (Detection, Track, Tracker, TrackerEvents, TrackerSettings,
                                TrackEstimate, TrackState)

# Seconds of each shopper's positions and reaches that the journal keeps.
JOURNAL_HISTORY_S = 10.0
RETIRE_PERIOD_S = 1.0
# Sessions less likely than this are not held for a review about the event.
_HOLD_PROBABILITY = 0.05
# Stamps of one instant, through float seconds.
_SAME_INSTANT_S = 1e-6
# After a restart, a stray must go unclaimed by the shoppers lost in the crash this long
# before it is taken for someone who came in meanwhile.
_ADOPT_AFTER_S = 1.0


class AlertKind(enum.IntEnum):
    # StoreAlert's kind constants.
    LOSS_PREVENTION = 0
    SECURITY = 1


class SlotOutcome(enum.Enum):
    PICK = 'pick'
    PUT = 'put'
    REVIEW = 'review'             # given to a cart but waits for a person
    UNEXPLAINED = 'unexplained'   # no scanned shopper to give it to


@dataclass(frozen=True)
class FusionSettings:
    tracker: TrackerSettings = TrackerSettings()
    attribution: AttributionSettings = AttributionSettings()
    review: ReviewSettings = ReviewSettings()
    scan_before_s: float = 2.0
    scan_after_s: float = 3.0
    # The gate decodes app codes from a queue of camera frames: in the 60-minute soak its
    # scans reached fusion up to 2.7 s after their frame. A track waits that long for one.
    scan_latency_s: float = 3.0
    # A blind slot's first weight change after its cells read again may still be the
    # outage's: it goes to review too, for this long.
    outage_grace_s: float = 3.0
    # Camera frames reach fusion out of time order (each camera's detections come when its
    # frame is processed): they wait this long to be applied in stamp order.
    reorder_window_s: float = 0.2
    # Every frame corrects the tracks; strays, re-acquisition and ageing are looked after at
    # most once in this much sensor time, not after every camera's frame (24 cameras send
    # 360 frames a second, 24 to an instant).
    instant_s: float = 0.05
    # Whoever came in while fusion was down was never seen at the gate: for this long after a
    # restart, people found inside whom no lost shopper explains take the scans made
    # meanwhile (as a guess, for review) instead of being strays nobody pays for.
    restart_adopt_s: float = 10.0
    # A session that left this long ago, with nothing of it held or waiting for review, is
    # forgotten (its cart, decided review requests and the shelf events counted by then),
    # or the record journalled every second would grow all day. A reviewer may still change
    # a decision until then.
    retention_s: float = 900.0


@dataclass(frozen=True)
class ExitData:
    event_id: str
    gate_id: str
    session_id: str
    account_token: str
    party_size: int
    track_id: str
    stamp_s: float


@dataclass(frozen=True)
class AlertData:
    alert_id: str
    kind: AlertKind
    description: str
    refs: tuple[str, ...]
    stamp_s: float


@dataclass
class FusionOutputs:
    carts: list[CartSnapshot] = field(default_factory=list)
    exits: list[ExitData] = field(default_factory=list)
    reviews: list[ReviewRequestData] = field(default_factory=list)
    alerts: list[AlertData] = field(default_factory=list)
    refused: str = ''             # why an input changed nothing, when it was refused

    def extend(self, other: FusionOutputs) -> None:
        self.carts += other.carts
        self.exits += other.exits
        self.reviews += other.reviews
        self.alerts += other.alerts


@dataclass(frozen=True)
class ShopperView:
    estimate: TrackEstimate
    session_id: str
    account_token: str
    identity_confidence: float


@dataclass(frozen=True)
class TrackRecord:
    """Where a bound shopper was last seen (journalled, to pick them up after a restart)."""
    track_id: str
    birth_gate: str
    last_seen_s: float
    x: float
    y: float
    suspects: tuple[str, ...] = ()       # whom it may have taken over (Track.suspects)
    # The last JOURNAL_HISTORY_S of (t, x, y) and of reaches (t, x, y, z): a shelf event from
    # just before a crash, redelivered after the restart, still finds who was at the shelf.
    positions: tuple[tuple[float, ...], ...] = ()
    reaches: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Outage:
    """A slot whose load cells cannot weigh (a shelf OUTAGE event), until restored."""
    event_id: str
    shelf_id: str
    slot_id: str
    started_s: float
    restored_s: float | None = None


@dataclass(frozen=True)
class FusionRecord:
    """What fusion must not forget across a crash: sessions and who they are, carts, the
    shelf events already counted, and where each session's shoppers were last seen."""
    now_s: float
    sessions: tuple[Session, ...]
    confidences: dict[str, float]
    carts: tuple[CartRecord, ...]
    seen_events: dict[str, float]        # event id -> when its weight settled
    tracks: tuple[TrackRecord, ...]
    reviews: tuple[ReviewRequestData, ...] = ()
    decisions: tuple[ReviewDecisionData, ...] = ()
    held_sessions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # event -> sessions
    outages: tuple[Outage, ...] = ()
    entries_forgotten_until_s: float = 0.0


class StoreFusion:
    def __init__(self, config: StoreConfig, settings: FusionSettings = FusionSettings()):
        self.config = config
        self.settings = settings
        self._entry_zones = {g.id: g.zone for g in config.gates_of_kind('entry')}
        self.tracker = Tracker(self._entry_zones,
                               {g.id: g.zone for g in config.gates_of_kind('exit')},
                               settings.tracker)
        self.identity = IdentityBinder(settings.scan_before_s, settings.scan_after_s,
                                       scan_latency_s=settings.scan_latency_s)
        self.carts = CartBook()
        self.reviews = ReviewQueue()
        self._slot_points = slot_front_points(config)
        self._seen_events: dict[str, float] = {}       # event id -> settled_s
        # Entries of forgotten sessions are this old or older: one redelivered after a
        # restart was acted on.
        self._entries_forgotten_until_s = 0.0
        self._retired_s = 0.0
        self._held_sessions: dict[str, set[str]] = {}      # event id -> sessions held for it
        self._outages: dict[str, Outage] = {}              # slot id -> its open outage
        # (shelf, slots) -> when its last change settled and its likeliest track: the next
        # part of a change split at its lifts starts then.
        self._last_lift: dict[tuple[str, tuple[str, ...]], tuple[float, str]] = {}
        self.now_s = 0.0
        # After restore(): blind from the journal's time to the first frame after it; strays
        # are taken for entrants until _adopt_until_s.
        self._blind_since_s: float | None = None
        self._blind_until_s: float | None = None
        self._adopt_until_s: float | None = None
        self._frames: list[tuple[float, int, Sequence[Detection]]] = []     # a heap by stamp
        self._looked_after_s = -math.inf
        self._frame_order = itertools.count()
        # For the store view: what happened last at each slot and gate, and when.
        self.slot_activity: dict[str, tuple[float, SlotOutcome]] = {}
        self.gate_activity: dict[str, float] = {}

    def on_detections(self, stamp_s: float, detections: Sequence[Detection]) -> FusionOutputs:
        """One camera frame; applied once no earlier frame can still be on its way."""
        self.now_s = max(self.now_s, stamp_s)
        if self._blind_since_s is not None and self._adopt_until_s is None:
            self._blind_until_s = stamp_s
            self._adopt_until_s = stamp_s + self.settings.restart_adopt_s
        heapq.heappush(self._frames, (stamp_s, next(self._frame_order), detections))
        outputs = self._apply_frames()
        self._hold_at_blind_slots(outputs)
        return outputs

    @property
    def tracked_s(self) -> float:
        """The time the tracker is at: frames up to it have been applied."""
        return self.now_s - self.settings.reorder_window_s

    def _apply_frames(self) -> FusionOutputs:
        outputs = FusionOutputs()
        while self._frames and self._frames[0][0] <= self.tracked_s:
            stamp_s, _, detections = heapq.heappop(self._frames)
            events = self.tracker.correct(stamp_s, detections)
            if stamp_s >= self._looked_after_s + self.settings.instant_s:
                events.extend(self.tracker.look_after(stamp_s))
                self._looked_after_s = stamp_s
            outputs.extend(self._tracker_events(events))
        return outputs

    def on_entry(self, scan: EntryScan) -> FusionOutputs:
        self.now_s = max(self.now_s, scan.stamp_s)
        outputs = FusionOutputs()
        if not any(g.id == scan.gate_id for g in self.config.gates_of_kind('entry')):
            outputs.refused = f'entry {scan.event_id!r} at unknown entry gate {scan.gate_id!r}'
            return outputs
        self.carts.open(scan.session_id, scan.account_token)
        self.gate_activity[scan.gate_id] = scan.stamp_s
        self._bound(self.identity.on_scan(scan, self.now_s), outputs)
        return outputs

    def on_shelf_activity(self, activity: ShelfActivity) -> FusionOutputs:
        self.now_s = max(self.now_s, activity.settled_s)
        outputs = FusionOutputs()
        if activity.event_id in self._seen_events:
            return outputs      # a replay of an event already given to a cart
        self._seen_events[activity.event_id] = activity.settled_s
        if activity.kind in (EventKind.OUTAGE, EventKind.RESTORED):
            self._on_outage(activity, outputs)
            return outputs
        # Strays too, once confirmed: a person on the floor is a candidate, known or not.
        tracks = [t for t in self.tracker.tracks
                  if t.birth_gate or t.state in (TrackState.CONFIRMED, TrackState.OCCLUDED)]
        attribution = attribute(activity, tracks, self._slot_points, self.settings.attribution)
        plates = (activity.shelf_id, activity.slot_ids)
        part_before = self._last_lift.get(plates)
        if part_before and abs(part_before[0] - activity.started_s) < _SAME_INSTANT_S:
            attribution = after_own_lift(attribution, part_before[1],
                                         self.settings.attribution.same_hand_again)
        # session -> (probability, likeliest track)
        by_session: dict[str, tuple[float, str]] = {}
        for track_id, probability in sorted(attribution.probabilities.items(),
                                            key=lambda item: -item[1]):
            session_id = self.identity.session_of_track.get(track_id, '')
            total, track = by_session.get(session_id, (0.0, track_id))
            by_session[session_id] = (total + probability, track)
        ranked = sorted(by_session.items(), key=lambda item: -item[1][0])
        candidates = tuple(SessionCandidate(session_id, track_id, probability)
                           for session_id, (probability, track_id) in ranked)
        where = f'{activity.shelf_id}/{"+".join(activity.slot_ids)}'
        best_session, (best_probability, best_track) = ranked[0] if ranked else ('', (0.0, ''))
        self._last_lift[plates] = (activity.settled_s, best_track)

        if activity.kind == EventKind.ANOMALY or not activity.candidates:
            # jwo_shelves already alerts on these; a person may still know who did it.
            self._request(outputs, activity, ReviewReason.ANOMALY, best_probability, candidates,
                          f'{abs(activity.delta_grams):.0f} g change at {where} matches no '
                          'product')
            self._mark_slots(activity, SlotOutcome.UNEXPLAINED)
            return outputs
        item = activity.candidates[0]
        if not ranked or attribution.nobody >= best_probability or not best_session:
            unbound = bool(ranked) and attribution.nobody < best_probability
            who = self._unbound_shopper(best_track) if unbound else 'no shopper near the shelf'
            outputs.alerts.append(AlertData(
                f'alert-{activity.event_id}', AlertKind.LOSS_PREVENTION,
                f'{item.quantity} x {item.sku} {_verb(activity.kind)} {where} by {who}',
                (activity.event_id, *activity.slot_ids, *((best_track,) if best_track else ())),
                activity.settled_s))
            owners = self._possible_sessions(best_track) if unbound else []
            if owners:
                # The shopper may be one of these sessions' people: hold those receipts
                # until a person says whose this is.
                for session_id in owners:
                    outputs.carts.append(self.carts.mark_pending(
                        session_id, activity.event_id, activity.settled_s))
                self._held_sessions[activity.event_id] = set(owners)
                candidates += tuple(SessionCandidate(session_id, best_track,
                                                     best_probability / len(owners))
                                    for session_id in owners)
                who += f' (scanned near then: {", ".join(owners)})'
            self._request(outputs, activity, ReviewReason.ANOMALY, attribution.nobody,
                          candidates, f'{item.quantity} x {item.sku} {_verb(activity.kind)} '
                          f'{where}: {who}')
            self._mark_slots(activity, SlotOutcome.UNEXPLAINED)
            return outputs

        if activity.kind == EventKind.PUT:
            held = {line.sku: line.quantity for line in self.carts.cart(best_session).lines}
            item = put_back_item(activity.candidates, held)
        reason = review_reason(best_probability, item.probability, self.settings.review)
        # The track took over someone the cameras lost beside others: it may be one of them.
        doubted = [session_id for session_id in self._possible_sessions(best_track)
                   if session_id != best_session]
        if reason is None and doubted:
            reason = ReviewReason.ATTRIBUTION
        if reason is None and self._blind(activity):
            reason = ReviewReason.SENSOR
        settling_s = activity.settled_s - activity.started_s
        shared = settling_s > self.settings.review.one_reach_s and any(
            candidate.probability >= _HOLD_PROBABILITY for candidate in candidates[1:])
        if reason is None and shared:
            reason = ReviewReason.ATTRIBUTION
        sign = 1 if activity.kind == EventKind.PICK else -1
        outputs.carts.append(self.carts.set(
            best_session, activity.event_id,
            (Contribution(item.sku, sign * item.quantity, best_probability * item.probability,
                          best_track),), reason is not None, activity.settled_s))
        self._mark_slots(activity, SlotOutcome.REVIEW if reason is not None
                         else SlotOutcome.PICK if sign > 0 else SlotOutcome.PUT)
        if reason is not None:
            held = {best_session, *doubted}
            for session_id in doubted:
                outputs.carts.append(self.carts.mark_pending(
                    session_id, activity.event_id, activity.settled_s))
            for candidate in candidates[1:]:
                if candidate.probability < _HOLD_PROBABILITY:
                    continue
                for session_id in ([candidate.session_id] if candidate.session_id else
                                   self._possible_sessions(candidate.track_id)):
                    if session_id not in held:
                        outputs.carts.append(self.carts.mark_pending(
                            session_id, activity.event_id, activity.settled_s))
                        held.add(session_id)
            self._held_sessions[activity.event_id] = held
            confidence, why = {
                ReviewReason.ATTRIBUTION: (
                    best_probability / (1 + len(doubted)),
                    f'shopper {best_track} may be {", ".join(doubted)}: lost in a crowd'
                    if doubted else f'shopper {best_track} only {best_probability:.0%} likely'
                    if best_probability < self.settings.review.attribution_threshold
                    else f'the weight took {settling_s:.1f} s to settle, longer than one '
                    f'reach: shoppers {", ".join(c.track_id for c in candidates[:3])} may '
                    'have shared it'),
                ReviewReason.ITEM: (item.probability, f'product only {item.probability:.0%} '
                                                      'likely'),
                ReviewReason.SENSOR: (best_probability * item.probability,
                                      'its load cells failed around then')}[reason]
            self._request(outputs, activity, reason, confidence, candidates,
                          f'{item.quantity} x {item.sku} {_verb(activity.kind)} {where}: {why}')
        return outputs

    def on_decision(self, decision: ReviewDecisionData) -> FusionOutputs:
        outputs = FusionOutputs()
        unknown = [part.session_id for part in decision.parts()
                   if part.session_id and not self.carts.has(part.session_id)]
        if unknown and not decision.dismissed:
            outputs.refused = (f'decision for {decision.request_id!r} names unknown session '
                               f'{unknown[0]!r}')
            return outputs
        request, why = self.reviews.decide(decision)
        if request is None:
            outputs.refused = why
            return outputs
        stamp_s = self.now_s
        if request.reason == ReviewReason.IDENTITY:
            if not decision.dismissed:
                self._move_track(request.track_id, decision.session_id, stamp_s, outputs)
            for session_id in sorted(self._held_sessions.pop(request.request_id, set())):
                outputs.carts.append(self.carts.remove(session_id, request.request_id, stamp_s))
            return outputs
        activity = request.activity
        # A LOST request holds its session under the request's own id.
        event_id = activity.event_id if activity is not None else request.request_id
        changed: dict[str, CartSnapshot] = {}
        for session_id in set(self.carts.sessions_with(event_id)) | \
                self._held_sessions.pop(event_id, set()):
            changed[session_id] = self.carts.remove(session_id, event_id, stamp_s)
        if not decision.dismissed:
            sign = -1 if activity is not None and (activity.kind == EventKind.PUT or (
                activity.kind == EventKind.ANOMALY and activity.delta_grams > 0)) else 1
            for part in decision.parts():
                contributions = tuple(Contribution(item.sku, sign * int(item.quantity), 1.0)
                                      for item in part.items if item.quantity > 0)
                changed[part.session_id] = self.carts.set(part.session_id, event_id,
                                                          contributions, False, stamp_s)
        outputs.carts += sorted(changed.values(), key=lambda cart: cart.session_id)
        return outputs

    def advance(self, now_s: float) -> FusionOutputs:
        """Ages tracks and scans to `now_s` (call it periodically, with sensor time)."""
        self.now_s = max(self.now_s, now_s)
        outputs = self._apply_frames()
        outputs.extend(self._tracker_events(self.tracker.advance(self.tracked_s)))
        self._hold_at_blind_slots(outputs)
        if self._adopt_until_s is not None:
            self._adopt_entrants(outputs)
        bindings, unclaimed = self.identity.update(self.now_s)
        self._bound(bindings, outputs)
        for track_id in unclaimed:
            outputs.alerts.append(AlertData(
                f'alert-unscanned-{track_id}', AlertKind.SECURITY,
                f'shopper {track_id} entered without an entry scan', (track_id,), self.now_s))
        if self.now_s - self._retired_s >= RETIRE_PERIOD_S:
            self._retire()
            self._retired_s = self.now_s
        return outputs

    def entry_forgotten(self, stamp_s: float) -> bool:
        """Whether an entry scanned at `stamp_s` may be of a session already forgotten."""
        return stamp_s <= self._entries_forgotten_until_s

    def _retire(self) -> None:
        """Forgets what is settled and older than `retention_s` (FusionSettings)."""
        cutoff_s = self.now_s - self.settings.retention_s
        busy = set().union(*self._held_sessions.values())
        for request in self.reviews.open_requests:
            busy.update(c.session_id for c in request.candidates)
        for session in list(self.identity.sessions.values()):
            if session.exited and session.exited_s is not None and \
                    session.exited_s <= cutoff_s and session.session_id not in busy and \
                    not self.carts.pending_review(session.session_id):
                self.identity.retire(session.session_id)
                self.carts.retire(session.session_id)
                self._entries_forgotten_until_s = max(self._entries_forgotten_until_s,
                                                      session.scan.stamp_s)
        requests, decisions = self.reviews.records()
        decided = {decision.request_id: decision for decision in decisions}
        for request in requests:
            decision = decided.get(request.request_id)
            if decision is None or request.stamp_s > cutoff_s:
                continue
            named = {c.session_id for c in request.candidates} | \
                {part.session_id for part in decision.parts()}
            if not named & self.identity.sessions.keys():
                self.reviews.retire(request.request_id)
        # An event still in a cart stays counted: redelivered, it must not count twice.
        in_carts = {event_id for cart in self.carts.records()
                    for event_id in (*cart.contributions, *cart.pending_events)}
        self._seen_events = {event_id: settled_s for event_id, settled_s
                             in self._seen_events.items()
                             if settled_s > cutoff_s or event_id in in_carts}

    def shoppers(self, now_s: float | None = None) -> list[ShopperView]:
        result = []
        for estimate in self.tracker.estimates(self.now_s if now_s is None else now_s):
            session_id = self.identity.session_of_track.get(estimate.track_id, '')
            session = self.identity.sessions.get(session_id)
            result.append(ShopperView(
                estimate, session_id, session.account_token if session else '',
                self.identity.confidence_of_track.get(estimate.track_id, 0.0)))
        return result

    def cart(self, session_id: str) -> CartSnapshot:
        return self.carts.cart(session_id)

    def record(self) -> FusionRecord:
        bound = self.identity.session_of_track
        since_s = self.now_s - JOURNAL_HISTORY_S
        tracks = tuple(TrackRecord(t.track_id, t.birth_gate, t.last_seen_s,
                                   float(t.position[0]), float(t.position[1]),
                                   tuple(sorted(t.suspects)),
                                   tuple(p for p in t.positions if p[0] >= since_s),
                                   tuple(r for r in t.reaches if r[0] >= since_s))
                       for t in self.tracker.tracks
                       if t.track_id in bound and t.state != TrackState.EXITED)
        reviews, decisions = self.reviews.records()
        return FusionRecord(self.now_s, tuple(self.identity.sessions.values()),
                            dict(self.identity.confidence_of_track),
                            tuple(self.carts.records()), dict(self._seen_events), tracks,
                            reviews, decisions,
                            {event_id: tuple(sorted(sessions))
                             for event_id, sessions in self._held_sessions.items()},
                            tuple(self._outages.values()), self._entries_forgotten_until_s)

    def restore(self, record: FusionRecord) -> None:
        """Picks up where a crashed fusion left off (call before any input). The shoppers
        who were inside come back as lost tracks at their last places: the tracker hands
        them to whoever it finds near there, with their sessions."""
        self.now_s = record.now_s
        self._blind_since_s = record.now_s
        for session in record.sessions:
            self.identity.restore(session, record.confidences, record.now_s)
        for cart in record.carts:
            self.carts.restore(cart)
        self._seen_events.update(record.seen_events)
        self._entries_forgotten_until_s = record.entries_forgotten_until_s
        self.reviews.restore(record.reviews, record.decisions)
        self._held_sessions.update({event_id: set(sessions)
                                    for event_id, sessions in record.held_sessions.items()})
        self._outages.update((outage.slot_id, outage) for outage in record.outages)
        for track in record.tracks:
            self.tracker.restore_lost(track.track_id, track.birth_gate, track.last_seen_s,
                                      track.x, track.y, record.now_s, track.suspects,
                                      track.positions, track.reaches)

    def _tracker_events(self, events: TrackerEvents) -> FusionOutputs:
        outputs = FusionOutputs()
        for track in events.confirmed:
            self._bound(self.identity.on_track_born(track.track_id, track.birth_gate,
                                                    track.born_s, self.now_s), outputs)
        for track in events.reacquired:
            self.identity.track_back(track.track_id)
        for track in events.lost:
            # The party's others have left: the last one lost is taken to have left unseen.
            session = self.identity.track_gone(track.track_id, exited=False)
            if session is not None:
                left = [self.tracker.track(track_id) for track_id in session.exited_track_ids]
                gate = max((t for t in left if t is not None), key=lambda t: t.last_seen_s,
                           default=track).exit_gate
                self._send_exit(session, track, gate, outputs)
        for track in events.exited:
            self.gate_activity[track.exit_gate] = track.last_seen_s
            session = self.identity.track_gone(track.track_id, exited=True)
            if session is not None:
                self._send_exit(session, track, track.exit_gate, outputs)
        for track in events.abandoned:
            self._close_lost_session(track, outputs)
        return outputs

    def _send_exit(self, session: Session, track: Track, gate_id: str,
                   outputs: FusionOutputs) -> None:
        session.exited_s = self.now_s
        if self.carts.cart(session.session_id).revision == 0:
            # Billing charges the latest cart it has; an untouched one is still sent.
            outputs.carts.append(self.carts.set(
                session.session_id, f'exit-{session.session_id}', (), False,
                track.last_seen_s))
        outputs.exits.append(ExitData(
            f'exit-{session.session_id}', gate_id, session.session_id, session.account_token,
            session.scan.party_size, track.track_id, track.last_seen_s))

    def _close_lost_session(self, track: Track, outputs: FusionOutputs) -> None:
        """The cameras gave up on a lost shopper: they left unseen (as someone else's track,
        or through a blind spot) or are still inside unrecognised. Left open, the session would
        never be charged; it is closed with its receipt held until a person confirms the cart."""
        session_id = self.identity.session_of_track.get(track.track_id, '')
        members = [self.tracker.track(track_id) for track_id in
                   self.identity.sessions[session_id].track_ids] if session_id else []
        if any(member is not None and member.state == TrackState.LOST for member in members):
            return      # another member, still lost, may yet be seen leaving
        session = self.identity.close_lost(track.track_id)
        if session is None:
            return
        session.exited_s = self.now_s
        request_id = lost_request_id(session.session_id)
        outputs.carts.append(self.carts.mark_pending(session.session_id, request_id,
                                                     self.now_s))
        self._held_sessions[request_id] = {session.session_id}
        x, y = track.position
        self._request(outputs, None, ReviewReason.LOST, 0.0,
                      (SessionCandidate(session.session_id, track.track_id, 1.0),),
                      f'the cameras lost shopper {track.track_id} at ({x:.1f}, {y:.1f}) m, '
                      f'{track.last_seen_s:.1f} s, and never saw them leave: is the cart of '
                      f'session {session.session_id} right?', track_id=track.track_id,
                      request_id=request_id)
        outputs.exits.append(ExitData(
            f'exit-{session.session_id}', '', session.session_id, session.account_token,
            session.scan.party_size, track.track_id, self.now_s))

    def _bound(self, bindings: list[Binding], outputs: FusionOutputs) -> None:
        for binding in bindings:
            if binding.confidence >= self.settings.review.attribution_threshold:
                continue
            share = 1.0 / max(1, len(binding.waiting_tracks))
            request_id = identity_request_id(binding.track_id, binding.session_id)
            # Whose cart this is may change: billing holds it until a person says.
            outputs.carts.append(self.carts.mark_pending(binding.session_id, request_id,
                                                         self.now_s))
            self._held_sessions[request_id] = {binding.session_id}
            self._request(outputs, None, ReviewReason.IDENTITY, binding.confidence,
                          tuple(SessionCandidate(binding.session_id, track_id, share)
                                for track_id in binding.waiting_tracks),
                          f'{len(binding.waiting_tracks)} people at the entry for the scan of '
                          f'session {binding.session_id}; shopper {binding.track_id} got it',
                          track_id=binding.track_id, request_id=request_id)

    def _adopt_entrants(self, outputs: FusionOutputs) -> None:
        """After a restart: strays no lost shopper claimed take the scans made while fusion
        was down, at the entry gate nearest them."""
        if self.tracked_s > self._adopt_until_s:
            self._blind_since_s = self._blind_until_s = self._adopt_until_s = None
            return
        for track in self.tracker.tracks:
            scans = self.identity.open_scans_between(
                self._blind_since_s - self.settings.scan_before_s,
                self._blind_until_s + self.settings.scan_after_s)
            if not scans:
                return
            if track.birth_gate or track.state != TrackState.CONFIRMED or \
                    self.tracked_s - track.born_s < _ADOPT_AFTER_S:
                continue
            gate = min({scan.gate_id for scan in scans},
                       key=lambda gate_id: self._distance_to_gate(gate_id, track))
            self.tracker.adopt(track.track_id, gate)
            self._bound(self.identity.bind_unseen(
                track.track_id, gate, track.born_s,
                [scan for scan in scans if scan.gate_id == gate]), outputs)

    def _distance_to_gate(self, gate_id: str, track: Track) -> float:
        zone = self._entry_zones[gate_id]
        return math.hypot(track.position[0] - (zone.min_x + zone.max_x) / 2,
                          track.position[1] - (zone.min_y + zone.max_y) / 2)

    def _unbound_shopper(self, track_id: str) -> str:
        track = self.tracker.track(track_id)
        if track is not None and not track.birth_gate:
            return f'shopper {track_id}, whom the cameras saw only away from the entry'
        return f'shopper {track_id} who entered without a scan'

    def _possible_sessions(self, track_id: str) -> list[str]:
        """Sessions in the store that an unbound track may belong to: scanned at its gate
        around its birth, or, for a stray, those of the tracks it may have split from."""
        owners = self.identity.possible_sessions(track_id)
        track = self.tracker.track(track_id)
        for suspect in track.suspects if track is not None else ():
            session = self.identity.sessions.get(self.identity.session_of_track.get(suspect, ''))
            if session is not None and not session.exited and session.session_id not in owners:
                owners.append(session.session_id)
        return owners

    def _request(self, outputs: FusionOutputs, activity: ShelfActivity | None,
                 reason: ReviewReason, confidence: float,
                 candidates: tuple[SessionCandidate, ...], description: str,
                 track_id: str = '', request_id: str = '') -> None:
        request = ReviewRequestData(request_id or shelf_request_id(activity.event_id), reason,
                                    confidence, activity, candidates, description,
                                    activity.settled_s if activity else self.now_s, track_id)
        if self.reviews.add(request):
            outputs.reviews.append(request)

    def _move_track(self, track_id: str, session_id: str, stamp_s: float,
                    outputs: FusionOutputs) -> None:
        """Gives a track, and the events it made, to another session."""
        old_session = self.identity.session_of_track.get(track_id, '')
        self.identity.reassign(track_id, session_id)
        if not old_session or old_session == session_id:
            return
        for event_id, parts in self.carts.contributions(old_session).items():
            if any(part.track_id == track_id for part in parts):
                outputs.carts.append(self.carts.remove(old_session, event_id, stamp_s))
                outputs.carts.append(self.carts.set(session_id, event_id, parts, False, stamp_s))

    def _on_outage(self, activity: ShelfActivity, outputs: FusionOutputs) -> None:
        if activity.kind == EventKind.RESTORED:
            for slot_id in activity.slot_ids:
                if slot_id in self._outages:
                    self._outages[slot_id] = replace(self._outages[slot_id],
                                                     restored_s=activity.settled_s)
            return
        for slot_id in activity.slot_ids:
            self._outages[slot_id] = Outage(activity.event_id, activity.shelf_id, slot_id,
                                            activity.started_s)
        self._mark_slots(activity, SlotOutcome.UNEXPLAINED)
        # The cells were found failing only some time after they failed: look back.
        self._hold_at_blind_slots(outputs, since_s=activity.started_s)

    def _blind(self, activity: ShelfActivity) -> bool:
        """Whether a weight change touched a slot while its cells could not weigh (or so
        soon after that it may be the outage's own step)."""
        for slot_id in activity.slot_ids:
            outage = self._outages.get(slot_id)
            if outage is not None and outage.started_s <= activity.settled_s and (
                    outage.restored_s is None or
                    activity.started_s <= outage.restored_s + self.settings.outage_grace_s):
                return True
        return False

    def _hold_at_blind_slots(self, outputs: FusionOutputs, since_s: float | None = None) -> None:
        """Holds the session of every shopper who came near a blind slot: only a person can
        tell what they took there. `since_s`: search the tracks' position
        histories from then on, not just where they are now."""
        grace_s = self.settings.outage_grace_s
        self._outages = {slot_id: o for slot_id, o in self._outages.items()
                         if o.restored_s is None or self.now_s <= o.restored_s + grace_s}
        if not self._outages:
            return
        # As far as attribution would give them the slot's pick rather than nobody: a
        # shopper beside the slot, or a track a few centimetres off, took things there too.
        attribution = self.settings.attribution
        reach_m = attribution.arm_reach_m + attribution.nobody_distance_m
        for track in self.tracker.tracks:
            session_id = self.identity.session_of_track.get(track.track_id, '')
            if not session_id or not track.positions:
                continue
            positions = [track.positions[-1]] if since_s is None else \
                [p for p in track.positions if p[0] >= since_s]
            for outage in list(self._outages.values()):
                x, y, _ = self._slot_points.get(outage.slot_id, (math.inf, math.inf, 0.0))
                if any(p[0] >= outage.started_s and math.hypot(p[1] - x, p[2] - y) <= reach_m
                       for p in positions):
                    self._hold_for_outage(outputs, outage, session_id, track.track_id)

    def _hold_for_outage(self, outputs: FusionOutputs, outage: Outage, session_id: str,
                         track_id: str) -> None:
        held_id = f'{outage.event_id}@{session_id}'      # one review per shopper per outage
        if self.reviews.has(shelf_request_id(held_id)):
            return
        slot_ids = tuple(sorted(slot_id for slot_id, o in self._outages.items()
                                if o.event_id == outage.event_id))
        activity = ShelfActivity(held_id, outage.shelf_id, slot_ids, EventKind.OUTAGE,
                                 outage.started_s, self.now_s, 0.0, ())
        outputs.carts.append(self.carts.mark_pending(session_id, held_id, self.now_s))
        self._held_sessions[held_id] = {session_id}
        self._request(outputs, activity, ReviewReason.SENSOR, 0.0,
                      (SessionCandidate(session_id, track_id, 1.0),),
                      f'load cells of {outage.shelf_id}/{"+".join(slot_ids)} cannot weigh since '
                      f'{outage.started_s:.1f} s; shopper {track_id} was there: what did they '
                      'take?')
        self._mark_slots(activity, SlotOutcome.REVIEW)

    def _mark_slots(self, activity: ShelfActivity, outcome: SlotOutcome) -> None:
        for slot_id in activity.slot_ids:
            self.slot_activity[slot_id] = (activity.settled_s, outcome)


def _verb(kind: EventKind) -> str:
    return 'put on' if kind == EventKind.PUT else 'taken from'
