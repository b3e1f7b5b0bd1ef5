"""Staff at the review desk, played from a simulated bag's ground truth (ROS-free).

A person answering a review request watches the store's video of the moment in question;
on a simulated bag the ground truth is that video. They answer the way `jwo_review decide`
lets staff answer:
- a shelf event (who took it, which product, a change nobody explains, a plate that could
  not weigh): the true picks and puts at the event's slots whose units left or landed
  while its weight changed, each shopper's net share under their session; nobody's ->
  dismissed;
- an identity question: the session of the person the track followed most closely;
- a lost shopper's cart: confirmed as it is (dismissed); what they took at the shelves
  has its own requests.
What they cannot express (a pick and a put in one merged change) they leave out.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from jwo_fusion.review import ReviewReason

SHELF_REASONS = (ReviewReason.ATTRIBUTION, ReviewReason.ITEM, ReviewReason.ANOMALY,
                 ReviewReason.SENSOR)


@dataclass(frozen=True)
class Question:
    """A review request, in the bag's seconds."""

    request_id: str
    reason: ReviewReason
    stamp_s: float
    slot_ids: tuple[str, ...] = ()
    taken: bool = True              # the weight went down (a pick): items add to the cart
    started_s: float = 0.0          # the weight began to change (an outage: the cells failed)
    settled_s: float = 0.0
    session_ids: tuple[str, ...] = ()      # the candidates: SENSOR asks about its one shopper
    track_id: str = ''


@dataclass(frozen=True)
class Answer:
    request_id: str
    dismissed: bool
    shares: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()   # (session, (sku, qty))
    session_id: str = ''            # IDENTITY: whose track it is


@dataclass(frozen=True)
class TrackPoint:
    t_s: float
    x_m: float
    y_m: float


class ReviewDesk:
    """`sessions`: account token -> session id, from the entry scans."""

    def __init__(self, ground_truth: dict, sessions: dict[str, str],
                 margin_s: float = 0.1, identity_window_s: float = 5.0):
        self._events = ground_truth['events']
        self._trajectories = ground_truth['trajectories']
        self._sessions = sessions
        self._accounts = {session_id: account for account, session_id in sessions.items()}
        self._margin_s = margin_s
        self._identity_window_s = identity_window_s

    def answer(self, question: Question, track: Sequence[TrackPoint] = ()) -> Answer | None:
        """The decision, or None when the truth has no answer staff could give (an identity
        track never seen near anyone, an account with no session)."""
        if question.reason in SHELF_REASONS:
            return self._shelf(question)
        if question.reason == ReviewReason.IDENTITY:
            account = self._closest_person(question.stamp_s, track)
            session_id = self._sessions.get(account)
            return Answer(question.request_id, False, session_id=session_id) \
                if session_id else None
        return Answer(question.request_id, True)

    def _shelf(self, question: Question) -> Answer | None:
        # An outage's question is about its one shopper, from when the cells failed on.
        only = None
        if question.reason == ReviewReason.SENSOR:
            only = {self._accounts[s] for s in question.session_ids if s in self._accounts}
        net: dict[str, Counter] = defaultdict(Counter)
        sign = 1 if question.taken else -1
        for event in self._events:
            if event['slot_id'] not in question.slot_ids or event['kind'] not in ('pick', 'put'):
                continue
            # The simulator's units leave or land halfway through the reach: what the video
            # shows inside the question's time (a change split at its lifts asks per lift).
            lifted_s = (event['t_start_s'] + event['t_settled_s']) / 2
            if not question.started_s - self._margin_s <= lifted_s \
                    <= question.settled_s + self._margin_s:
                continue
            if only is not None and event['account_token'] not in only:
                continue
            taken = 1 if event['kind'] == 'pick' else -1
            net[event['account_token']][event['sku']] += sign * taken * event['quantity']
        shares = []
        for account, units in sorted(net.items()):
            items = tuple((sku, n) for sku, n in sorted(units.items()) if n > 0)
            if not items:
                continue
            session_id = self._sessions.get(account)
            if session_id is None:
                return None
            shares.append((session_id, items))
        if not shares:
            return Answer(question.request_id, True)
        return Answer(question.request_id, False, tuple(shares))

    def _closest_person(self, stamp_s: float, track: Sequence[TrackPoint]) -> str | None:
        near = [p for p in track if abs(p.t_s - stamp_s) <= self._identity_window_s]
        best, best_distance = None, math.inf
        for person, trajectory in self._trajectories.items():
            distances = [math.hypot(p.x_m - where[0], p.y_m - where[1]) for p in near
                         if (where := _at(trajectory, p.t_s)) is not None]
            if len(distances) < len(near) / 2 or not distances:
                continue
            mean = sum(distances) / len(distances)
            if mean < best_distance:
                best, best_distance = person.split('/')[0], mean
        return best


def _at(trajectory: dict, t_s: float) -> tuple[float, float] | None:
    """Where a true trajectory is at `t_s` (its nearest sample within 0.1 s), or None."""
    times = trajectory['t_s']
    after = bisect.bisect_left(times, t_s)
    index = min((i for i in (after - 1, after) if 0 <= i < len(times)),
                key=lambda i: abs(times[i] - t_s), default=None)
    if index is None or abs(times[index] - t_s) > 0.1:
        return None
    return trajectory['x_m'][index], trajectory['y_m'][index]
