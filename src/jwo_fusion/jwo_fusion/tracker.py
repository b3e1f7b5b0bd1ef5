"""Shopper tracks on the store floor from the detections of many overlapping cameras
(ROS-free; time is passed in).

Every camera frame is one measurement step: its detections are gated (Mahalanobis, on the
innovation of each track's constant-velocity Kalman filter) and assigned to tracks with
`scipy.optimize.linear_sum_assignment`. Cameras overlap, so the same person is seen by several
of them; because each frame updates the existing tracks in turn, a person seen by two cameras
feeds one track instead of making two. Shoppers' tracks are born in an entry gate zone
(where the entry scan binds them to an account) and end in an exit gate zone. A track that
stops being seen coasts on its prediction with growing covariance (occlusion, crowding); after
`max_coast_s` it is LOST, and a person who is seen again away from the entry is picked up
by the lost track they most plausibly are, so they keep their identity.
Anyone seen away from the entry whom no track explains gets a stray track (never
published): a person whose track went off with someone else in a crowd is then still on
the floor when they take something, and the entry-born tracks near where the stray
started are kept as the ones it may belong to.

Filters are predicted lazily, only when a detection is applied to them: for the white-noise
acceleration model one prediction over dt1 + dt2 equals two over dt1 and dt2, so skipping the
steps where a track is not seen changes nothing and saves most of the work.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

from jwo_common.store_config import Zone


class TrackState(enum.IntEnum):
    # The first four values are TrackedShopper's state constants.
    TENTATIVE = 0
    CONFIRMED = 1
    OCCLUDED = 2
    EXITED = 3
    LOST = 4            # coasted too long; waits to be picked up again (not published)


LIVE_STATES = (TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.OCCLUDED)


@dataclass(frozen=True)
class Detection:
    """One person seen by one camera, already on the floor in `map`."""

    x: float
    y: float
    stddev_m: float = 0.08
    confidence: float = 1.0
    reach_point: tuple[float, float, float] | None = None   # None: not reaching


@dataclass(frozen=True)
class TrackerSettings:
    accel_noise: float = 1.0              # white-noise acceleration density, m^2/s^3
    initial_speed_stddev_mps: float = 1.0
    min_detection_stddev_m: float = 0.03  # a detector that claims better is not trusted
    min_confidence: float = 0.3
    gate_chi2: float = 13.8               # 99.9 % of a 2-dof innovation
    max_gate_m: float = 1.5               # however uncertain a coasting track, no further
    # However sure a track is, a detection this close may be its person: two heads are not
    # this close, and a young track's velocity can be off by that much after noisy frames.
    min_gate_m: float = 0.4
    max_extrapolation_s: float = 1.0
    confirm_hits: int = 3
    tentative_timeout_s: float = 0.5      # a tentative track not seen for this long is dropped
    occluded_after_s: float = 0.3
    max_coast_s: float = 4.0
    lost_keep_s: float = 120.0
    birth_clearance_m: float = 0.3        # no new track this close to a live one
    reacquire_speed_mps: float = 1.5      # how far a lost person can have walked
    # Entry-born tracks that come this close to a stray (a track started away from the
    # entry) may have lost that person to someone else: the stray may be one of theirs.
    stray_suspects_m: float = 1.5
    reacquire_margin_m: float = 1.0
    history_s: float = 30.0               # positions and reaches kept for attribution
    history_step_s: float = 0.05


@dataclass
class Track:
    track_id: str
    kf: KalmanFilter
    time_s: float                          # time of the filter's state
    born_s: float
    state: TrackState = TrackState.TENTATIVE
    # The entry gate zone it was born in; '' for a track started away from the entry.
    birth_gate: str = ''
    hits: int = 1
    last_seen_s: float = 0.0
    lost_s: float = 0.0
    exit_gate: str = ''
    # A stray's: the entry-born tracks it may have been split from (they came near it, or
    # were lost near where it started). An entry-born track that took over a stray keeps
    # them: it may have taken over someone else.
    suspects: set[str] = field(default_factory=set)
    positions: deque = field(default_factory=deque)   # (t, x, y) after each update
    reaches: deque = field(default_factory=deque)     # (t, x, y, z) of the hand

    @property
    def position(self) -> np.ndarray:
        return self.kf.x[:2, 0]


@dataclass(frozen=True)
class TrackEstimate:
    """A track predicted to a time, for publishing."""

    track_id: str
    state: TrackState
    x: float
    y: float
    vx: float
    vy: float
    covariance: np.ndarray                # 4x4 over (x, y, vx, vy)


@dataclass
class TrackerEvents:
    confirmed: list[Track] = field(default_factory=list)     # born in an entry zone
    reacquired: list[Track] = field(default_factory=list)    # a lost track seen again
    exited: list[Track] = field(default_factory=list)
    lost: list[Track] = field(default_factory=list)
    abandoned: list[Track] = field(default_factory=list)     # lost for lost_keep_s: dropped

    def extend(self, other: TrackerEvents) -> None:
        for name in ('confirmed', 'reacquired', 'exited', 'lost', 'abandoned'):
            getattr(self, name).extend(getattr(other, name))


def transition(dt: float, max_extrapolation_s: float = np.inf) -> np.ndarray:
    """Constant velocity, but a track unseen for long is not carried beyond
    `max_extrapolation_s` of motion: people stop, turn and wait where no camera sees them."""
    moved = min(dt, max_extrapolation_s)
    return np.array([[1.0, 0.0, moved, 0.0], [0.0, 1.0, 0.0, moved],
                     [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


def process_noise(dt: float, accel_noise: float) -> np.ndarray:
    a, b, c = dt ** 3 / 3, dt ** 2 / 2, dt
    return accel_noise * np.array([[a, 0, b, 0], [0, a, 0, b], [b, 0, c, 0], [0, b, 0, c]])


class Tracker:
    def __init__(self, entry_zones: dict[str, Zone], exit_zones: dict[str, Zone],
                 settings: TrackerSettings = TrackerSettings()):
        self._entry_zones = entry_zones
        self._exit_zones = exit_zones
        self.settings = settings
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def track(self, track_id: str) -> Track | None:
        return next((t for t in self._tracks if t.track_id == track_id), None)

    def update(self, stamp_s: float, detections: Sequence[Detection]) -> TrackerEvents:
        """One camera frame: all it saw at `stamp_s`; then the tracks are looked after."""
        events = self.correct(stamp_s, detections)
        events.extend(self.look_after(stamp_s))
        return events

    def look_after(self, now_s: float) -> TrackerEvents:
        """Strays' suspects, re-acquisition and ageing, as of `now_s`. After every frame,
        or, where many cameras send frames, once for each instant's frames."""
        self._note_suspects([t for t in self._tracks if t.state in LIVE_STATES])
        events = TrackerEvents(reacquired=self._reacquire(now_s))
        events.extend(self.advance(now_s))
        return events

    def correct(self, stamp_s: float, detections: Sequence[Detection]) -> TrackerEvents:
        """One camera frame's detections correct the tracks they belong to and start new
        ones."""
        s = self.settings
        detections = [d for d in detections if d.confidence >= s.min_confidence]
        live = [t for t in self._tracks if t.state in LIVE_STATES]
        # Strays get only what the entry-born tracks cannot explain: a stray must not take
        # a shopper from their own coasting track.
        known = [t for t in live if t.birth_gate]
        strays = [t for t in live if not t.birth_gate]
        rows, columns = self._associate(known, detections, stamp_s)
        pairs = [(known[row], column) for row, column in zip(rows, columns)]
        left = [i for i in range(len(detections)) if i not in set(columns)]
        rows, columns = self._associate(strays, [detections[i] for i in left], stamp_s)
        pairs += [(strays[row], left[column]) for row, column in zip(rows, columns)]
        events = TrackerEvents()
        for track, detection_index in pairs:
            self._correct(track, detections[detection_index], stamp_s)
            if track.state == TrackState.TENTATIVE and not track.birth_gate:
                # Started on a stray detection beside the gate, then taken by someone
                # stepping in through it: that is who the track follows.
                track.birth_gate = _zone_at(self._entry_zones, *track.position)
                if track.birth_gate:
                    track.suspects = set()
            if track.state == TrackState.TENTATIVE and track.hits >= s.confirm_hits:
                track.state = TrackState.CONFIRMED
                if track.birth_gate:
                    events.confirmed.append(track)
            elif track.state == TrackState.OCCLUDED:
                track.state = TrackState.CONFIRMED
            if track.state == TrackState.CONFIRMED and track.birth_gate:
                gate = _zone_at(self._exit_zones, *track.position)
                if gate:
                    track.state, track.exit_gate = TrackState.EXITED, gate
                    events.exited.append(track)
        taken = {detection_index for _, detection_index in pairs}
        for index, detection in enumerate(detections):
            if index not in taken:
                self._maybe_start(detection, stamp_s)
        return events

    def advance(self, now_s: float) -> TrackerEvents:
        """Ages the tracks to `now_s`: occlusion, loss, dropping stale ones."""
        s = self.settings
        events = TrackerEvents()
        kept = []
        for track in self._tracks:
            unseen_s = now_s - track.last_seen_s
            if track.state == TrackState.TENTATIVE and unseen_s > s.tentative_timeout_s:
                continue
            if track.state == TrackState.CONFIRMED and unseen_s > s.occluded_after_s:
                track.state = TrackState.OCCLUDED
            if track.state == TrackState.OCCLUDED and unseen_s > s.max_coast_s:
                if not track.birth_gate:
                    continue    # seen away from the entry, never matched to anyone lost
                track.state, track.lost_s = TrackState.LOST, now_s
                events.lost.append(track)
            if track.state == TrackState.LOST and now_s - track.lost_s > s.lost_keep_s:
                events.abandoned.append(track)
                continue
            if track.state == TrackState.EXITED and unseen_s > s.history_s:
                continue
            kept.append(track)
        self._tracks = kept
        return events

    def estimates(self, now_s: float, states=LIVE_STATES + (TrackState.EXITED,)
                  ) -> list[TrackEstimate]:
        """Every track born at an entry and in `states`, predicted to `now_s` (the filters are
        left untouched)."""
        result = []
        for track in self._tracks:
            if track.state not in states or not track.birth_gate:
                continue
            dt = max(0.0, now_s - track.time_s) if track.state != TrackState.EXITED else 0.0
            f = transition(dt, self.settings.max_extrapolation_s)
            x = f @ track.kf.x[:, 0]
            p = f @ track.kf.P @ f.T + process_noise(dt, self.settings.accel_noise)
            result.append(TrackEstimate(track.track_id, track.state, float(x[0]), float(x[1]),
                                        float(x[2]), float(x[3]), p))
        return result

    def adopt(self, track_id: str, gate: str) -> Track:
        """Takes a stray for someone who came in through `gate` while nobody watched (fusion
        was down): from now on it is followed, published and ended like an entry-born track."""
        track = self.track(track_id)
        track.birth_gate, track.suspects = gate, set()
        return track

    def restore_lost(self, track_id: str, birth_gate: str, last_seen_s: float, x: float,
                     y: float, now_s: float, suspects: Sequence[str] = (),
                     positions: Sequence[tuple] = (), reaches: Sequence[tuple] = ()) -> None:
        """A track of someone in the store when this tracker's process died: it comes back
        as lost at its last known place, so whoever is found near there takes it over (and
        with it, their session)."""
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = np.array([[x], [y], [0.0], [0.0]])
        kf.P = np.diag([1.0, 1.0, self.settings.initial_speed_stddev_mps ** 2,
                        self.settings.initial_speed_stddev_mps ** 2])
        kf.H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
        track = Track(track_id, kf, last_seen_s, last_seen_s, state=TrackState.LOST,
                      birth_gate=birth_gate, last_seen_s=last_seen_s, lost_s=now_s,
                      suspects=set(suspects))
        track.positions.extend(positions or [(last_seen_s, x, y)])
        track.reaches.extend(reaches)
        self._tracks.append(track)
        if track_id.isdigit():
            self._ids = itertools.count(max(int(track_id) + 1, next(self._ids)))

    def _associate(self, tracks: list[Track], detections: list[Detection],
                   stamp_s: float) -> tuple[list[int], list[int]]:
        if not tracks or not detections:
            return [], []
        q = self.settings.accel_noise
        x = np.array([t.kf.x[:, 0] for t in tracks])
        p = np.array([t.kf.P for t in tracks])
        dt = np.maximum(0.0, stamp_s - np.array([t.time_s for t in tracks]))
        moved = np.minimum(dt, self.settings.max_extrapolation_s)
        predicted = x[:, :2] + moved[:, None] * x[:, 2:]
        dt_, moved_ = dt[:, None, None], moved[:, None, None]
        p_pos = (p[:, :2, :2] + moved_ * (p[:, :2, 2:] + p[:, 2:, :2])
                 + moved_ ** 2 * p[:, 2:, 2:] + (q * dt_ ** 3 / 3) * np.eye(2))
        z = np.array([[d.x, d.y] for d in detections])
        variance = np.array([max(d.stddev_m, self.settings.min_detection_stddev_m) ** 2
                             for d in detections])
        # Innovation covariance S per (track, detection), inverted in closed form (2x2).
        s_xx = p_pos[:, None, 0, 0] + variance[None, :]
        s_yy = p_pos[:, None, 1, 1] + variance[None, :]
        s_xy = np.broadcast_to(p_pos[:, None, 0, 1], s_xx.shape)
        det = s_xx * s_yy - s_xy ** 2
        r = z[None, :, :] - predicted[:, None, :]
        d2 = (s_yy * r[..., 0] ** 2 - 2 * s_xy * r[..., 0] * r[..., 1]
              + s_xx * r[..., 1] ** 2) / det
        # The log-determinant keeps a widely uncertain coasting track from taking detections
        # that a well-known neighbour explains better.
        cost = d2 + np.log(det)
        distance = np.hypot(r[..., 0], r[..., 1])
        gated = ((d2 > self.settings.gate_chi2) & (distance > self.settings.min_gate_m)) | \
            (distance > self.settings.max_gate_m)
        cost[gated] = 1e6
        rows, cols = linear_sum_assignment(cost)
        keep = ~gated[rows, cols]
        return rows[keep].tolist(), cols[keep].tolist()

    def _correct(self, track: Track, detection: Detection, stamp_s: float) -> None:
        s = self.settings
        dt = max(0.0, stamp_s - track.time_s)
        if dt > 0:
            track.kf.predict(F=transition(dt, s.max_extrapolation_s),
                             Q=process_noise(dt, s.accel_noise))
            track.time_s = stamp_s
        variance = max(detection.stddev_m, s.min_detection_stddev_m) ** 2
        track.kf.update(np.array([detection.x, detection.y]), R=np.eye(2) * variance)
        track.hits += 1
        track.last_seen_s = max(track.last_seen_s, stamp_s)
        if not track.positions or stamp_s - track.positions[-1][0] >= s.history_step_s:
            track.positions.append((stamp_s, *(float(v) for v in track.position)))
        if detection.reach_point is not None:
            track.reaches.append((stamp_s, *detection.reach_point))
        for history in (track.positions, track.reaches):
            while history and history[0][0] < stamp_s - s.history_s:
                history.popleft()

    def _maybe_start(self, detection: Detection, stamp_s: float) -> None:
        s = self.settings
        here = np.array([detection.x, detection.y])
        for track in self._tracks:
            if track.state in LIVE_STATES and np.hypot(*(track.position - here)) < \
                    s.birth_clearance_m:
                return
        gate = _zone_at(self._entry_zones, detection.x, detection.y)
        if not gate and _zone_at(self._exit_zones, detection.x, detection.y):
            return      # someone leaving is nobody new
        kf = KalmanFilter(dim_x=4, dim_z=2)
        kf.x = np.array([[detection.x], [detection.y], [0.0], [0.0]])
        position_variance = max(detection.stddev_m, s.min_detection_stddev_m) ** 2
        kf.P = np.diag([position_variance, position_variance,
                        s.initial_speed_stddev_mps ** 2, s.initial_speed_stddev_mps ** 2])
        kf.H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
        track = Track(str(next(self._ids)), kf, stamp_s, stamp_s, birth_gate=gate,
                      last_seen_s=stamp_s,
                      suspects=set() if gate else self._lost_near(here, stamp_s))
        track.positions.append((stamp_s, detection.x, detection.y))
        if detection.reach_point is not None:
            track.reaches.append((stamp_s, *detection.reach_point))
        self._tracks.append(track)

    def _lost_near(self, here: np.ndarray, now_s: float) -> set[str]:
        """Lost tracks whose person can have walked to `here` by now."""
        s = self.settings
        return {t.track_id for t in self._tracks if t.state == TrackState.LOST and
                np.hypot(*(t.position - here)) <= s.reacquire_margin_m +
                s.reacquire_speed_mps * (now_s - t.last_seen_s)}

    def _note_suspects(self, live: list[Track]) -> None:
        strays = [t for t in live if not t.birth_gate]
        known = [t for t in live if t.birth_gate]
        if not strays or not known:
            return
        # Every frame, every stray against every shopper: one array operation.
        apart = np.array([t.position for t in strays])[:, None, :] - \
            np.array([t.position for t in known])[None, :, :]
        near = np.hypot(apart[..., 0], apart[..., 1]) <= self.settings.stray_suspects_m
        for stray, row in zip(strays, near):
            stray.suspects.update(known[column].track_id for column in np.flatnonzero(row))

    def _reacquire(self, now_s: float) -> list[Track]:
        """Hands confirmed strays to the entry-born tracks that most plausibly walked there,
        nearest first: to a lost one, or to a coasting one when that is the only track the
        stray can have split from."""
        s = self.settings
        found = [t for t in self._tracks if t.state == TrackState.CONFIRMED and not t.birth_gate]
        owners = [t for t in self._tracks if t.state == TrackState.LOST or
                  (t.state == TrackState.OCCLUDED and t.birth_gate)]
        if not found or not owners:
            return []
        cost = np.full((len(found), len(owners)), 1e6)
        for row, finder in enumerate(found):
            for col, owner in enumerate(owners):
                distance = float(np.hypot(*(finder.position - owner.position)))
                reach = s.reacquire_margin_m + s.reacquire_speed_mps * (now_s - owner.last_seen_s)
                alone = owner.state == TrackState.LOST or finder.suspects <= {owner.track_id}
                if distance <= reach and alone:
                    cost[row, col] = distance
        rows, cols = linear_sum_assignment(cost)
        result = []
        for row, col in zip(rows, cols):
            if cost[row, col] >= 1e6:
                continue
            finder, owner = found[row], owners[col]
            owner.kf, owner.time_s = finder.kf, finder.time_s
            owner.last_seen_s = finder.last_seen_s
            owner.positions.extend(finder.positions)
            owner.reaches.extend(finder.reaches)
            owner.state = TrackState.CONFIRMED
            owner.suspects |= finder.suspects - {owner.track_id}
            self._tracks.remove(finder)
            result.append(owner)
        return result


def _zone_at(zones: dict[str, Zone], x: float, y: float) -> str:
    return next((gate_id for gate_id, zone in zones.items() if zone.contains(x, y)), '')
