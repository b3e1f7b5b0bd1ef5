"""The human review queue (ROS-free): what the stack is not sure enough about goes to a
person with its evidence, and their decision comes back.

A request is raised when the most probable shopper's session falls below
`attribution_threshold`, when the most probable product/quantity falls below
`item_threshold`, when a weight change has no shopper to explain it, when an entry scan
had several people to choose from, when a shopper was at a shelf whose load cells could
not weigh (what they took there is not known), when a weight change took longer to settle
than one reach and another shopper was in reach (two reaches merged), or when the cameras
lost a shopper for good
(their session is closed and its receipt waits for a person to confirm the cart). A
decision names the request; decisions for unknown requests are refused, a repeated decision
changes nothing, and a later different decision for the same request replaces the earlier
one (a reviewer correcting themselves).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from jwo_fusion.attribution import ItemCandidate, ShelfActivity


class ReviewReason(enum.IntEnum):
    # ReviewRequest's reason constants.
    ATTRIBUTION = 0
    ITEM = 1
    IDENTITY = 2
    ANOMALY = 3
    SENSOR = 4        # the shelf's load cells failed while the shopper was at it
    LOST = 5          # the cameras lost the shopper and never saw them leave


@dataclass(frozen=True)
class ReviewSettings:
    attribution_threshold: float = 0.9
    item_threshold: float = 0.9
    # One hand's pick or put settles the plate within about 0.9 s of the weight starting to
    # change; one that took longer may be two shoppers' reaches merged (the plate never
    # rested between them), which weight cannot split: with another shopper in reach, a
    # person says who took what.
    one_reach_s: float = 1.0


@dataclass(frozen=True)
class SessionCandidate:
    session_id: str
    track_id: str
    probability: float


@dataclass(frozen=True)
class ReviewRequestData:
    request_id: str
    reason: ReviewReason
    confidence: float
    activity: ShelfActivity | None       # None for IDENTITY and LOST
    candidates: tuple[SessionCandidate, ...]     # most probable first
    description: str
    stamp_s: float
    track_id: str = ''                   # IDENTITY: the track whose account is in question


@dataclass(frozen=True)
class ReviewShare:
    """One session's part of a weight change that several shoppers' reaches merged into."""

    session_id: str
    items: tuple[ItemCandidate, ...]


@dataclass(frozen=True)
class ReviewDecisionData:
    request_id: str
    reviewer_id: str
    dismissed: bool
    session_id: str
    items: tuple[ItemCandidate, ...]
    shares: tuple[ReviewShare, ...] = ()      # instead of session_id and items

    def parts(self) -> tuple[ReviewShare, ...]:
        """Who is charged what: the shares, or the one session with the items."""
        return self.shares or (ReviewShare(self.session_id, self.items),)


def shelf_request_id(event_id: str) -> str:
    return f'review-{event_id}'


def identity_request_id(track_id: str, session_id: str) -> str:
    return f'review-identity-{session_id}-{track_id}'


def lost_request_id(session_id: str) -> str:
    return f'review-lost-{session_id}'


def review_reason(session_probability: float, item_probability: float,
                  settings: ReviewSettings) -> ReviewReason | None:
    if session_probability < settings.attribution_threshold:
        return ReviewReason.ATTRIBUTION
    if item_probability < settings.item_threshold:
        return ReviewReason.ITEM
    return None


class ReviewQueue:
    def __init__(self):
        self._requests: dict[str, ReviewRequestData] = {}
        self._decisions: dict[str, ReviewDecisionData] = {}

    def add(self, request: ReviewRequestData) -> bool:
        """False when the request was already raised (a replayed event)."""
        if request.request_id in self._requests:
            return False
        self._requests[request.request_id] = request
        return True

    def has(self, request_id: str) -> bool:
        return request_id in self._requests

    def records(self) -> tuple[tuple[ReviewRequestData, ...], tuple[ReviewDecisionData, ...]]:
        return tuple(self._requests.values()), tuple(self._decisions.values())

    def restore(self, requests: tuple[ReviewRequestData, ...],
                decisions: tuple[ReviewDecisionData, ...]) -> None:
        self._requests.update((r.request_id, r) for r in requests)
        self._decisions.update((d.request_id, d) for d in decisions)

    def retire(self, request_id: str) -> None:
        del self._requests[request_id]
        self._decisions.pop(request_id, None)

    @property
    def open_requests(self) -> list[ReviewRequestData]:
        return [r for r_id, r in self._requests.items() if r_id not in self._decisions]

    def decide(self, decision: ReviewDecisionData) -> tuple[ReviewRequestData | None, str]:
        """(the request it answers, '') to apply it, or (None, why it changes nothing)."""
        request = self._requests.get(decision.request_id)
        if request is None:
            return None, f'decision for unknown request {decision.request_id!r}'
        if self._decisions.get(decision.request_id) == decision:
            return None, f'decision for {decision.request_id!r} repeated'
        if decision.shares and (decision.session_id or decision.items):
            return None, (f'decision for {decision.request_id!r} names both shares and a '
                          'session')
        if not decision.dismissed and not all(part.session_id for part in decision.parts()):
            return None, f'decision for {decision.request_id!r} names no session'
        if decision.shares and request.activity is None:
            return None, f'decision for {decision.request_id!r}: only a shelf event is shared'
        self._decisions[decision.request_id] = decision
        return request, ''
