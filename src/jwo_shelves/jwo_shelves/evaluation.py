"""Scoring detected shelf events against ground truth: event precision, recall and F1,
item+quantity accuracy, and latency after the weight settled (counted from when readings could
first show the settle, where the caller knows that to be later: nothing can see a settle that
no reading shows).

A detected event and a true event can match when they are on the same shelf, share a
plate, move weight the same way (pick or put) and settled within `max_offset_s` of each
other; among those pairs the one-to-one assignment with the smallest total time offset is
taken. Unmatched detections are false positives, unmatched true events are misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from jwo_shelves.shelf_monitor import EventKind, ShelfEventData


@dataclass(frozen=True)
class TrueEvent:
    shelf_id: str
    slot_ids: tuple[str, ...]
    kind: EventKind               # PICK, PUT, or ANOMALY for a foreign object
    sku: str | None               # None for ANOMALY
    quantity: int
    settled_ns: int               # when the weight reached its final value
    # When readings could first show the plate settled, if later: another hand reached in
    # before it rested, or its cells dropped out.
    seen_ns: int | None = None


@dataclass(frozen=True)
class Detection:
    event: ShelfEventData
    published_ns: int             # sensor time of the last sample processed when it came out


@dataclass(frozen=True)
class Score:
    true_events: int
    detected: int
    matched: int
    identified: int               # matched with the right (sku, quantity), or both anomalies
    latencies_s: tuple[float, ...]
    pairs: tuple[tuple[int, int], ...] = ()   # (true index, detection index) of each match

    @property
    def precision(self) -> float:
        return self.matched / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.true_events if self.true_events else 1.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    @property
    def identification_accuracy(self) -> float:
        """Right item and quantity among all true events (a miss counts as wrong)."""
        return self.identified / self.true_events if self.true_events else 1.0

    def latency_percentile_s(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_s, percentile)) if self.latencies_s \
            else float('nan')


def _direction(kind: EventKind, delta_g: float) -> int:
    if kind == EventKind.PICK:
        return -1
    if kind == EventKind.PUT:
        return 1
    return -1 if delta_g < 0 else 1


def _true_direction(event: TrueEvent) -> int | None:
    if event.kind == EventKind.PICK:
        return -1
    if event.kind == EventKind.PUT:
        return 1
    return None                   # a foreign object may be put or taken


def _correct(truth: TrueEvent, detected: ShelfEventData) -> bool:
    if truth.kind == EventKind.ANOMALY:
        return detected.kind == EventKind.ANOMALY
    if detected.kind == EventKind.ANOMALY or not detected.candidates:
        return False
    best = detected.candidates[0]
    return (best.sku, best.quantity) == (truth.sku, truth.quantity)


def score(truths: Sequence[TrueEvent], detections: Sequence[Detection],
          max_offset_s: float = 2.0) -> Score:
    big = 1e12
    cost = np.full((len(truths), len(detections)), big)
    for i, truth in enumerate(truths):
        direction = _true_direction(truth)
        for j, detection in enumerate(detections):
            event = detection.event
            offset_s = abs(event.settled_ns - truth.settled_ns) / 1e9
            if event.shelf_id == truth.shelf_id and set(event.slot_ids) & set(truth.slot_ids) \
                    and offset_s <= max_offset_s and \
                    direction in (None, _direction(event.kind, event.delta_g)):
                cost[i, j] = offset_s
    matched = identified = 0
    latencies, pairs = [], []
    if truths and detections:
        rows, columns = linear_sum_assignment(cost)
        for i, j in zip(rows, columns):
            if cost[i, j] >= big:
                continue
            matched += 1
            pairs.append((int(i), int(j)))
            identified += _correct(truths[i], detections[j].event)
            seen_ns = truths[i].seen_ns or truths[i].settled_ns
            latencies.append((detections[j].published_ns - seen_ns) / 1e9)
    return Score(true_events=len(truths), detected=len(detections), matched=matched,
                 identified=identified, latencies_s=tuple(latencies), pairs=tuple(pairs))
