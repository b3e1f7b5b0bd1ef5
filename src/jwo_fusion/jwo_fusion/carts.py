"""The cart of every shopping session (ROS-free).

A cart is the sum of its contributions, one per shelf event (or review decision) that was
given to the session: units of a SKU, positive for a pick and negative for a put-back, to
the same or any other slot. Keeping contributions rather than running totals is what lets a
reviewer move or cancel one event later, before or after the exit, without replaying the
others. Every change makes a new revision of the whole cart.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Contribution:
    sku: str
    quantity: int                 # signed: a put-back is negative
    confidence: float
    track_id: str = ''            # whose action it was, when known


@dataclass(frozen=True)
class CartLine:
    sku: str
    quantity: int
    confidence: float             # lowest confidence of the events behind the line
    event_ids: tuple[str, ...]


@dataclass(frozen=True)
class CartSnapshot:
    session_id: str
    account_token: str
    revision: int
    stamp_s: float                # time of the change that made this revision
    lines: tuple[CartLine, ...]
    pending_review: bool


@dataclass
class CartRecord:
    """A cart as kept (and journalled): every contribution and the events pending review."""
    session_id: str
    account_token: str
    revision: int = 0
    stamp_s: float = 0.0
    contributions: dict[str, tuple[Contribution, ...]] = field(default_factory=dict)
    pending_events: set[str] = field(default_factory=set)

    def snapshot(self) -> CartSnapshot:
        quantity: dict[str, int] = defaultdict(int)
        confidence: dict[str, float] = defaultdict(lambda: 1.0)
        events: dict[str, list[str]] = defaultdict(list)
        for event_id, parts in self.contributions.items():
            for part in parts:
                quantity[part.sku] += part.quantity
                confidence[part.sku] = min(confidence[part.sku], part.confidence)
                events[part.sku].append(event_id)
        # A net put-back of something this cart never had is nothing to charge or refund.
        lines = tuple(CartLine(sku, quantity[sku], confidence[sku], tuple(events[sku]))
                      for sku in sorted(quantity) if quantity[sku] > 0)
        return CartSnapshot(self.session_id, self.account_token, self.revision, self.stamp_s,
                            lines, bool(self.pending_events))


class CartBook:
    def __init__(self):
        self._carts: dict[str, CartRecord] = {}

    def open(self, session_id: str, account_token: str) -> None:
        self._carts.setdefault(session_id, CartRecord(session_id, account_token))

    def has(self, session_id: str) -> bool:
        return session_id in self._carts

    def cart(self, session_id: str) -> CartSnapshot:
        return self._carts[session_id].snapshot()

    def contributions(self, session_id: str) -> dict[str, tuple[Contribution, ...]]:
        return dict(self._carts[session_id].contributions)

    def sessions_with(self, event_id: str) -> list[str]:
        return [c.session_id for c in self._carts.values() if event_id in c.contributions]

    def set(self, session_id: str, event_id: str, parts: tuple[Contribution, ...],
            pending_review: bool, stamp_s: float) -> CartSnapshot:
        """Gives the session `parts` for `event_id`, replacing what that event gave before."""
        cart = self._carts[session_id]
        cart.contributions[event_id] = parts
        if pending_review:
            cart.pending_events.add(event_id)
        else:
            cart.pending_events.discard(event_id)
        return self._changed(cart, stamp_s)

    def mark_pending(self, session_id: str, event_id: str, stamp_s: float) -> CartSnapshot:
        """An event this cart may be involved in waits for review (held at billing)."""
        cart = self._carts[session_id]
        cart.pending_events.add(event_id)
        return self._changed(cart, stamp_s)

    def remove(self, session_id: str, event_id: str, stamp_s: float) -> CartSnapshot:
        cart = self._carts[session_id]
        cart.contributions.pop(event_id, None)
        cart.pending_events.discard(event_id)
        return self._changed(cart, stamp_s)

    def retire(self, session_id: str) -> None:
        del self._carts[session_id]

    def records(self) -> list[CartRecord]:
        return list(self._carts.values())

    def restore(self, record: CartRecord) -> None:
        """A cart from the journal, revision included, so billing sees the next one as new."""
        self._carts[record.session_id] = record

    def pending_review(self, session_id: str) -> bool:
        return bool(self._carts[session_id].pending_events)

    def is_pending(self, session_id: str, event_id: str) -> bool:
        return event_id in self._carts[session_id].pending_events

    @staticmethod
    def _changed(cart: CartRecord, stamp_s: float) -> CartSnapshot:
        cart.revision += 1
        cart.stamp_s = stamp_s
        return cart.snapshot()
