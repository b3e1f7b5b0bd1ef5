"""Who made a shelf event: a probability per tracked shopper, and that nobody did (ROS-free).

Evidence per track, over the time the weight was changing (plus a margin):
- where the shopper stood: within arm's length of the slot's front edge costs nothing,
  every step further away costs a Gaussian penalty;
- whether a hand was seen reaching to that slot while its weight changed (give or take
  `reach_before_s`/`reach_after_s`): a detector's reach point near the slot is strong
  evidence, multiplying the odds by up to `reach_weight`;
- whether the shopper stood still as a hand could land on the plate: someone walking past
  is not the one whose hand is on it.
The scores are log-likelihoods; a softmax over the shoppers plus one "nobody" hypothesis
(scored as a shopper standing `nobody_distance_m` beyond arm's length) gives the
probabilities, so one shopper at the shelf gets nearly all of it, two side by side split it
unless a reach tells them apart, and an empty aisle leaves the event unexplained.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from jwo_common.frames import shelf_to_map
from jwo_common.store_config import StoreConfig
from jwo_fusion.tracker import Track


class EventKind(enum.IntEnum):
    # ShelfEvent's kind constants.
    PICK = 0
    PUT = 1
    ANOMALY = 2
    OUTAGE = 3        # the slots' load cells cannot weigh since started_s
    RESTORED = 4      # ... and read again at settled_s


@dataclass(frozen=True)
class ItemCandidate:
    sku: str
    quantity: int
    probability: float


# A put-back is read from the shopper's cart only when the weight leaves the cart's products
# at least this likely together; below it the weight says it was something else.
_CARRIED_MIN_PROBABILITY = 0.05


def put_back_item(candidates: Sequence[ItemCandidate],
                  held: Mapping[str, int]) -> ItemCandidate:
    """What a put-back returned, knowing it came from a cart holding `held` (units per
    SKU): of the weight's candidates, those the cart holds enough of, renormalised.
    Near-identical weights (an ale put back among the bread) are told apart this way. The
    weight's own ranking stands when the cart explains too little of it (a foreign object,
    a wrong cart)."""
    carried = [c for c in candidates if held.get(c.sku, 0) >= c.quantity]
    total = sum(c.probability for c in carried)
    if total < _CARRIED_MIN_PROBABILITY:
        return candidates[0]
    best = max(carried, key=lambda c: c.probability)
    return replace(best, probability=best.probability / total)


@dataclass(frozen=True)
class ShelfActivity:
    """A settled weight change on a shelf (a ShelfEvent)."""

    event_id: str
    shelf_id: str
    slot_ids: tuple[str, ...]
    kind: EventKind
    started_s: float
    settled_s: float
    delta_grams: float
    candidates: tuple[ItemCandidate, ...]      # most probable first
    lifted_s: float | None = None              # its units left or landed; None: not seen


@dataclass(frozen=True)
class AttributionSettings:
    window_before_s: float = 1.0
    window_after_s: float = 0.5
    # A hand is in the shelf while the plate's weight changes: a reach seen much earlier or
    # later was into some other slot (a neighbour's, shoulder to shoulder).
    reach_before_s: float = 0.3
    reach_after_s: float = 0.2
    max_history_gap_s: float = 3.0       # an occluded shopper's last position still counts
    arm_reach_m: float = 0.7             # floor distance to a slot's front edge within reach
    stand_stddev_m: float = 0.25
    reach_stddev_m: float = 0.15
    reach_weight: float = 50.0
    nobody_distance_m: float = 0.75
    # Whoever takes or puts something stands still as their hand lands on the plate: from
    # `still_before_s` before to `still_s` after. A hand lands as the weight starts to
    # change, or, in a change two shoppers' reaches made (the plate never rested between
    # them), up to `reach_settles_s` before it settled: the least a reach takes from
    # touching the plate to its weight settling. A shopper who walked faster than
    # `standing_speed_mps` through every such stretch scores a Gaussian penalty.
    still_before_s: float = 0.2
    still_s: float = 0.6
    reach_settles_s: float = 0.5
    standing_speed_mps: float = 0.3
    walking_stddev_mps: float = 0.3
    # When the load cells saw the units leave or land (the lift), the taker's hand was in the
    # slot then: a hand seen there this many seconds from it counts as much as one seen at
    # it times exp(-1/2). A neighbour's arm the cameras give to the wrong head is seldom
    # there just then.
    reach_at_lift_stddev_s: float = 0.2
    # A plate's change split at its lifts (jwo_shelves: two lifts, the plate never resting
    # between) comes as parts, each starting where the one before settled. One hand lifting
    # again that soon (out of the shelf and back in half a second) is this many times as
    # likely as another shopper's hand.
    same_hand_again: float = 0.1


@dataclass(frozen=True)
class Attribution:
    probabilities: dict[str, float]      # track id -> probability it did the event
    nobody: float                        # probability no tracked shopper did it
    distances_m: dict[str, float]        # track id -> closest floor distance to the slot


def slot_front_points(config: StoreConfig) -> dict[str, np.ndarray]:
    """The front-centre of each slot (its edge facing the shoppers) in map, (x, y, z)."""
    points = {}
    for shelf in config.shelves:
        to_map = shelf_to_map(shelf)
        for slot in shelf.slots:
            points[slot.id] = (to_map @ np.array([slot.x_m, 0.0, slot.z_m, 1.0]))[:3]
    return points


def _window(history, start_s: float, end_s: float, max_gap_s: float) -> list[tuple]:
    inside = [entry for entry in history if start_s <= entry[0] <= end_s]
    if inside:
        return inside
    before = [entry for entry in history if start_s - max_gap_s <= entry[0] < start_s][-1:]
    after = [entry for entry in history if end_s < entry[0] <= end_s + max_gap_s][:1]
    return before + after


def _slowest_speed(history, start_s: float, end_s: float, stretch_s: float) -> float | None:
    """The track's lowest speed over any `stretch_s` from `start_s` to `end_s` (its first
    and last positions in each stretch, apart, stepping a tenth of a second); None when no
    stretch has positions over half of it."""
    slowest = None
    recent = [entry for entry in history if start_s <= entry[0] <= end_s]
    # Offsets, not absolute stamps: at epoch seconds a float cannot hold a nanosecond, and a
    # window exactly one stretch long gave no stretch at all.
    for offset_s in np.arange(0.0, max(0.0, end_s - start_s - stretch_s) + 1e-6, 0.1):
        from_s = start_s + offset_s
        inside = [entry for entry in recent if from_s <= entry[0] <= from_s + stretch_s]
        if len(inside) < 2 or inside[-1][0] - inside[0][0] < 0.5 * stretch_s:
            continue
        first, last = inside[0], inside[-1]
        speed = math.hypot(last[1] - first[1], last[2] - first[2]) / (last[0] - first[0])
        slowest = speed if slowest is None else min(slowest, speed)
    return slowest


def attribute(activity: ShelfActivity, tracks: Iterable[Track],
              slot_points: dict[str, np.ndarray],
              settings: AttributionSettings = AttributionSettings()) -> Attribution:
    s = settings
    targets = np.array([slot_points[slot_id] for slot_id in activity.slot_ids
                        if slot_id in slot_points])
    if targets.size == 0:
        return Attribution({}, 1.0, {})
    start_s, end_s = activity.started_s - s.window_before_s, activity.settled_s + s.window_after_s
    scores: dict[str, float] = {}
    distances: dict[str, float] = {}
    for track in tracks:
        positions = _window(track.positions, start_s, end_s, s.max_history_gap_s)
        if not positions:
            continue
        xy = np.array([p[1:3] for p in positions])
        floor_m = float(np.min(np.linalg.norm(xy[:, None, :] - targets[None, :, :2], axis=2)))
        score = -0.5 * (max(0.0, floor_m - s.arm_reach_m) / s.stand_stddev_m) ** 2
        last_landing_s = max(activity.started_s, activity.settled_s - s.reach_settles_s)
        speed = _slowest_speed(track.positions, activity.started_s - s.still_before_s,
                               last_landing_s - s.still_before_s + s.still_s, s.still_s)
        if speed is not None:
            score -= 0.5 * (max(0.0, speed - s.standing_speed_mps) / s.walking_stddev_mps) ** 2
        reaches = [r for r in track.reaches if activity.started_s - s.reach_before_s <= r[0]
                   <= activity.settled_s + s.reach_after_s]
        if reaches:
            hands = np.array([r[1:4] for r in reaches])
            reach_m = np.min(np.linalg.norm(hands[:, None, :] - targets[None, :, :], axis=2),
                             axis=1)
            nearness = np.exp(-0.5 * (reach_m / s.reach_stddev_m) ** 2)
            if activity.lifted_s is not None:
                off_s = np.array([r[0] for r in reaches]) - activity.lifted_s
                nearness *= np.exp(-0.5 * (off_s / s.reach_at_lift_stddev_s) ** 2)
            score += math.log1p(s.reach_weight * float(nearness.max()))
        scores[track.track_id] = score
        distances[track.track_id] = floor_m
    nobody_score = -0.5 * (s.nobody_distance_m / s.stand_stddev_m) ** 2
    top = max([nobody_score, *scores.values()])
    weights = {track_id: math.exp(score - top) for track_id, score in scores.items()}
    nobody_weight = math.exp(nobody_score - top)
    total = nobody_weight + sum(weights.values())
    return Attribution({track_id: w / total for track_id, w in weights.items()},
                       nobody_weight / total, distances)


def after_own_lift(attribution: Attribution, track_id: str, same_hand_again: float
                   ) -> Attribution:
    """`attribution` of a part of a plate's change whose part before `track_id` made."""
    if track_id not in attribution.probabilities:
        return attribution
    weights = dict(attribution.probabilities)
    weights[track_id] *= same_hand_again
    total = attribution.nobody + sum(weights.values())
    return Attribution({t: w / total for t, w in weights.items()}, attribution.nobody / total,
                       attribution.distances_m)
