"""Scores what the stack charged on a simulated bag against the bag's ground truth (ROS-free).

- receipts: per account, the units charged (sales and adjustments less refunds; captured,
  or held for staff to release) against the true cart, priced with the store's own rules;
- item level: precision and recall over units;
- tracking: IDF1 of the published tracks against the true trajectories (motmetrics,
  a track matches a person within `match_radius_m` on the floor, at the truth's times);
- review rate and the money charged against the money owed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import motmetrics
import numpy as np

from jwo_billing.receipt import CartLine, build_receipt
from jwo_common.store_config import StoreConfig

SALE, REFUND, ADJUSTMENT = 'sale', 'refund', 'adjustment'


@dataclass(frozen=True)
class ChargedReceipt:
    session_id: str
    account_token: str
    kind: str                       # SALE, REFUND or ADJUSTMENT
    captured: bool
    held: bool
    units: dict[str, int]           # sku -> quantity (positive, also on a refund)
    total_minor: int                # positive, also on a refund


@dataclass(frozen=True)
class TrackSample:
    t_s: float                      # sim seconds
    track_id: str
    x_m: float
    y_m: float


@dataclass(frozen=True)
class ShopperScore:
    account_token: str
    true_units: dict[str, int]
    charged_units: dict[str, int]
    true_total_minor: int
    charged_total_minor: int
    held: bool

    @property
    def exact(self) -> bool:
        return self.true_units == self.charged_units and \
            self.true_total_minor == self.charged_total_minor


@dataclass
class StoreScore:
    shoppers: list[ShopperScore] = field(default_factory=list)
    item_precision: float = 1.0
    item_recall: float = 1.0
    idf1: float = 0.0
    review_rate: float = 0.0
    charges: int = 0
    held: int = 0                   # receipts waiting for staff (age check) or review
    charged_minor: int = 0          # captured and held
    owed_minor: int = 0

    @property
    def exact_match_rate(self) -> float:
        return sum(s.exact for s in self.shoppers) / len(self.shoppers) if self.shoppers else 1.0


def true_total_minor(units: dict[str, int], config: StoreConfig) -> int:
    lines = [CartLine(sku, quantity) for sku, quantity in sorted(units.items())]
    return build_receipt(lines, config).total_minor if lines else 0


def charged_units(receipts: list[ChargedReceipt]) -> tuple[dict[str, int], int]:
    """Net units and money of an account's receipts: captured ones, and held ones, which
    staff release as they are (an age check) and are charged then."""
    units: Counter = Counter()
    total = 0
    for receipt in receipts:
        if not (receipt.captured or receipt.held):
            continue
        sign = -1 if receipt.kind == REFUND else 1
        for sku, quantity in receipt.units.items():
            units[sku] += sign * quantity
        total += sign * receipt.total_minor
    return {sku: n for sku, n in sorted(units.items()) if n}, total


def tracking_idf1(truth: dict[str, dict[str, list[float]]], tracks: list[TrackSample],
                  match_radius_m: float = 0.5, frame_period_s: float = 0.1,
                  max_gap_s: float = 0.25) -> float:
    """IDF1 at the true trajectories' sample times. Tracks come at their publisher's pace,
    stamped with the sensor time fusion has reached (camera frames, 1/15 s apart), not at
    the truth's: a track is where it was interpolated between its two samples around the
    true time, when those are at most `max_gap_s` apart, or at its sample within half a
    frame period."""
    by_track: dict[str, list[TrackSample]] = defaultdict(list)
    for sample in tracks:
        by_track[sample.track_id].append(sample)
    objects: dict[int, dict[str, tuple[float, float]]] = defaultdict(dict)
    frame_time_s: dict[int, float] = {}
    for person, trajectory in truth.items():
        for t_s, x, y in zip(trajectory['t_s'], trajectory['x_m'], trajectory['y_m']):
            frame = round(t_s / frame_period_s)
            objects[frame][person] = (x, y)
            frame_time_s.setdefault(frame, t_s)
    frames = sorted(objects)
    frame_times = np.array([frame_time_s[frame] for frame in frames])
    # track id -> (mask of the frames it is at, its (n, 2) positions at those frames)
    streams = {}
    for track_id, samples in by_track.items():
        samples.sort(key=lambda s: s.t_s)
        streams[track_id] = _track_at(np.array([s.t_s for s in samples]),
                                      np.array([(s.x_m, s.y_m) for s in samples]),
                                      frame_times, frame_period_s / 2, max_gap_s)
    # motmetrics wants numeric ids.
    person_number = {person: n for n, person in enumerate(sorted(truth))}
    track_number = {track: n for n, track in enumerate(sorted(streams))}
    accumulator = motmetrics.MOTAccumulator(auto_id=False)
    for index, frame in enumerate(frames):
        seen = {track_id: positions[index] for track_id, (present, positions)
                in streams.items() if present[index]}
        people = objects[frame]
        truth_ids, track_ids = sorted(people), sorted(seen)
        distances = motmetrics.distances.norm2squared_matrix(
            np.array([people[p] for p in truth_ids]).reshape(-1, 2),
            np.array([seen[t] for t in track_ids]).reshape(-1, 2),
            max_d2=match_radius_m ** 2)
        accumulator.update([person_number[p] for p in truth_ids],
                           [track_number[t] for t in track_ids], distances, frameid=frame)
    summary = motmetrics.metrics.create().compute(accumulator, metrics=['idf1'])
    value = float(summary['idf1'].iloc[0])
    return 0.0 if np.isnan(value) else value


def _track_at(times: np.ndarray, positions: np.ndarray, at_s: np.ndarray, tolerance_s: float,
              max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Where one track is at times `at_s` (sorted): interpolated between its samples around
    each time when they are at most `max_gap_s` apart, else its nearest sample within
    `tolerance_s`; with the mask of the times it is anywhere."""
    if len(times) == 1:
        return np.abs(times[0] - at_s) <= tolerance_s, np.repeat(positions, len(at_s), axis=0)
    after = np.clip(np.searchsorted(times, at_s), 1, len(times) - 1)
    before = after - 1
    bracketed = (times[before] <= at_s) & (at_s <= times[after]) & \
        (times[after] - times[before] <= max_gap_s)
    nearest = np.where(np.abs(times[before] - at_s) <= np.abs(times[after] - at_s),
                       before, after)
    close = np.abs(times[nearest] - at_s) <= tolerance_s
    interpolated = np.column_stack([np.interp(at_s, times, positions[:, axis])
                                    for axis in (0, 1)])
    return bracketed | close, np.where(bracketed[:, None], interpolated, positions[nearest])


def score_store(ground_truth: dict, config: StoreConfig, receipts: list[ChargedReceipt],
                tracks: list[TrackSample], reviewed_sessions: set[str]) -> StoreScore:
    by_account: dict[str, list[ChargedReceipt]] = defaultdict(list)
    for receipt in receipts:
        by_account[receipt.account_token].append(receipt)
    score = StoreScore()
    true_units_total = charged_units_total = matched_units = 0
    for shopper in ground_truth['shoppers']:
        account = shopper['account_token']
        true_units = {sku: n for sku, n in sorted(ground_truth['carts'].get(account, {}).items())
                      if n}
        charged, charged_total = charged_units(by_account.get(account, []))
        score.shoppers.append(ShopperScore(
            account, true_units, charged, true_total_minor(true_units, config), charged_total,
            held=any(r.held for r in by_account.get(account, []))))
        true_units_total += sum(true_units.values())
        charged_units_total += sum(max(n, 0) for n in charged.values())
        matched_units += sum(min(n, charged.get(sku, 0)) for sku, n in true_units.items())
    score.item_precision = matched_units / charged_units_total if charged_units_total else 1.0
    score.item_recall = matched_units / true_units_total if true_units_total else 1.0
    score.idf1 = tracking_idf1(ground_truth['trajectories'], tracks)
    score.review_rate = len(reviewed_sessions) / max(len(ground_truth['shoppers']), 1)
    score.charges = sum(r.captured and r.kind != REFUND for r in receipts)
    score.held = sum(r.held for r in receipts)
    score.charged_minor = sum(s.charged_total_minor for s in score.shoppers)
    score.owed_minor = sum(s.true_total_minor for s in score.shoppers)
    return score
