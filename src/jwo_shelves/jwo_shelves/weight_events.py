"""Pick/put detection from raw per-plate weights: a moving-variance trigger and settling.

Each plate (slot) is watched on its own, the way AIM3S and AutoCheckout do it: while the
moving standard deviation over a short window (0.5 s at 60 Hz) is low the plate is at
rest and its baseline slowly follows the readings, which absorbs the drift of the cell.
A burst of variance (a hand taking or placing something) or a jump of the mean away from
the baseline starts an activity; once a whole window is quiet again the plate has
settled, and the settled level minus the baseline before is the plate's weight change.
A hand that only pressed on the plate settles back to the baseline: no change.

Plates whose activities overlap in time and that touch each other are reported together
as one `WeightEvent` (an item lying across two plates moves weight on both); whether that
is one item or several is for identification to judge.

Time is the samples' own stamps; nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class LoadCellBatch:
    """Consecutive samples of every plate of one shelf (one LoadCellReadings message)."""

    start_ns: int                 # sensor time of the first sample
    sample_rate_hz: float
    grams: np.ndarray             # [sample][slot] in the detector's slot order; NaN = no reading

    def stamp_ns(self, index: int) -> int:
        return self.start_ns + round(index * 1e9 / self.sample_rate_hz)


@dataclass(frozen=True)
class DetectorSettings:
    window_s: float = 0.5              # moving-variance and settling window
    noise_stddev_g: float = 1.0        # initial guess of a plate's noise; learnt while at rest
    trigger_sigmas: float = 4.0        # window stddev above this many noise stddevs: activity
    min_trigger_stddev_g: float = 2.0  # ... but never below this (a stuck cell has no noise)
    settle_sigmas: float = 2.5         # window stddev at or below this many: settled
    min_settle_stddev_g: float = 1.5
    min_delta_g: float = 10.0          # smaller settled changes are not events
    baseline_tau_s: float = 2.0        # how fast the resting baseline follows drift
    group_gap_s: float = 0.3           # activities this close in time on touching plates group
    max_group_wait_s: float = 0.25     # longest wait for a touching plate to settle
    max_gap_s: float = 1.0             # a plate silent longer than this re-learns its baseline
    min_valid_fraction: float = 0.5    # of a window's samples, for any decision

    def __post_init__(self):
        for name in ('window_s', 'noise_stddev_g', 'trigger_sigmas', 'settle_sigmas',
                     'min_delta_g', 'baseline_tau_s', 'max_gap_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)!r}')
        if not 0 < self.min_valid_fraction <= 1:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got {self.min_valid_fraction}')


class Phase(enum.Enum):
    LEARNING = 'learning'     # no baseline yet (start-up, or back after a long silence)
    RESTING = 'resting'
    ACTIVE = 'active'


@dataclass(frozen=True)
class PlateChange:
    """A settled weight change of one plate."""

    slot: int
    started_ns: int           # first sample at which the plate was seen moving
    settled_ns: int           # first sample of the quiet window that ended the activity
    detected_ns: int          # sample at which the settling was confirmed
    before_g: float
    after_g: float
    delta_stddev_g: float     # uncertainty of after - before from the plate's noise

    @property
    def delta_g(self) -> float:
        return self.after_g - self.before_g


@dataclass(frozen=True)
class WeightEvent:
    """Settled changes of one or more touching plates whose activities overlapped."""

    changes: tuple[PlateChange, ...]

    @property
    def slots(self) -> tuple[int, ...]:
        return tuple(c.slot for c in self.changes)

    @property
    def delta_g(self) -> float:
        return sum(c.delta_g for c in self.changes)

    @property
    def started_ns(self) -> int:
        return min(c.started_ns for c in self.changes)

    @property
    def settled_ns(self) -> int:
        return max(c.settled_ns for c in self.changes)

    @property
    def detected_ns(self) -> int:
        return max(c.detected_ns for c in self.changes)

    @property
    def delta_stddev_g(self) -> float:
        return math.sqrt(sum(c.delta_stddev_g ** 2 for c in self.changes))


@dataclass
class _Plate:
    noise_var: float
    phase: Phase = Phase.LEARNING
    baseline_g: float = math.nan
    active_since_ns: int = 0
    last_valid_ns: int | None = None


@dataclass
class _Pending:
    change: PlateChange
    waiting_since_ns: int


@dataclass
class ShelfWeightDetector:
    """Turns one shelf's load-cell batches into settled `WeightEvent`s.

    `adjacent[i]` lists the plates touching plate i (an item can lie across them).
    """

    slot_count: int
    adjacent: Sequence[Sequence[int]]
    settings: DetectorSettings = field(default_factory=DetectorSettings)

    def __post_init__(self):
        if len(self.adjacent) != self.slot_count:
            raise ValueError(f'adjacent has {len(self.adjacent)} entries for '
                             f'{self.slot_count} slots')
        self._plates = [_Plate(noise_var=self.settings.noise_stddev_g ** 2)
                        for _ in range(self.slot_count)]
        self._history: np.ndarray | None = None     # the last window-1 samples
        self._history_rate_hz = 0.0
        self._next_ns: int | None = None
        self._pending: list[_Pending] = []

    # ---- public
    def phase(self, slot: int) -> Phase:
        return self._plates[slot].phase

    def noise_stddev_g(self, slot: int) -> float:
        return math.sqrt(self._plates[slot].noise_var)

    def baseline_g(self, slot: int) -> float:
        return self._plates[slot].baseline_g

    def process(self, batch: LoadCellBatch) -> list[WeightEvent]:
        """Feeds one batch (samples in time order, after the previous batch)."""
        grams = np.asarray(batch.grams, dtype=np.float64)
        if grams.ndim != 2 or grams.shape[1] != self.slot_count:
            raise ValueError(f'batch has shape {grams.shape}, expected [samples, '
                             f'{self.slot_count}]')
        if grams.shape[0] == 0:
            return []
        if not batch.sample_rate_hz > 0:
            raise ValueError(f'sample_rate_hz must be > 0, got {batch.sample_rate_hz}')
        grams = np.where(np.isfinite(grams), grams, np.nan)
        window = max(2, round(self.settings.window_s * batch.sample_rate_hz))
        self._join_history(batch, window)
        means, stddevs, counts = self._window_stats(grams, window)
        self._history = np.vstack([self._history, grams])[-(window - 1):]
        self._next_ns = batch.stamp_ns(grams.shape[0])

        min_count = max(2, math.ceil(self.settings.min_valid_fraction * window))
        period_ns = 1e9 / batch.sample_rate_hz
        for slot in range(self.slot_count):
            self._track_plate(slot, batch, grams[:, slot], means[:, slot], stddevs[:, slot],
                              counts[:, slot], window, min_count, period_ns)
        return self._release(batch.stamp_ns(grams.shape[0] - 1))

    def flush(self) -> list[WeightEvent]:
        """Releases every settled change still waiting for a neighbour (end of a recording)."""
        return self._release(None)

    # ---- per-sample statistics, vectorised over samples and plates
    def _join_history(self, batch: LoadCellBatch, window: int) -> None:
        period_ns = 1e9 / batch.sample_rate_hz
        fresh = np.full((window - 1, self.slot_count), np.nan)
        if self._history is None or self._history_rate_hz != batch.sample_rate_hz \
                or self._history.shape[0] != window - 1:
            self._history = fresh
        elif self._next_ns is not None and abs(batch.start_ns - self._next_ns) > 1.5 * period_ns:
            # Lost or out-of-order messages: the window must not join samples across the gap.
            self._history = fresh
        self._history_rate_hz = batch.sample_rate_hz

    def _window_stats(self, grams: np.ndarray, window: int):
        joined = np.vstack([self._history, grams])
        valid = np.isfinite(joined)
        # Centre on a per-plate reading so the sum of squares keeps its precision.
        first_valid = joined[np.argmax(valid, axis=0), np.arange(self.slot_count)]
        reference = np.where(np.isfinite(first_valid), first_valid, 0.0)
        centred = np.where(valid, joined - reference, 0.0)
        zero = np.zeros((1, self.slot_count))
        sums = np.vstack([zero, np.cumsum(centred, axis=0)])
        squares = np.vstack([zero, np.cumsum(centred * centred, axis=0)])
        counts = np.vstack([zero, np.cumsum(valid, axis=0)])
        n = grams.shape[0]
        end = np.arange(window, window + n)
        window_sum = sums[end] - sums[end - window]
        window_squares = squares[end] - squares[end - window]
        window_count = counts[end] - counts[end - window]
        with np.errstate(all='ignore'):
            mean = window_sum / window_count
            variance = window_squares / window_count - mean * mean
            # Sample variance (n-1) so a short window does not look quieter than it is.
            variance = np.maximum(variance, 0.0) * window_count / np.maximum(window_count - 1, 1)
        return mean + reference, np.sqrt(variance), window_count

    # ---- one plate's state machine
    def _thresholds(self, plate: _Plate) -> tuple[float, float]:
        noise = math.sqrt(plate.noise_var)
        s = self.settings
        return (max(s.min_trigger_stddev_g, s.trigger_sigmas * noise),
                max(s.min_settle_stddev_g, s.settle_sigmas * noise))

    def _track_plate(self, slot, batch, samples, means, stddevs, counts, window, min_count,
                     period_ns) -> None:
        plate = self._plates[slot]
        s = self.settings
        valid_rows = np.flatnonzero(np.isfinite(samples))
        if valid_rows.size:
            last_ns = batch.stamp_ns(int(valid_rows[-1]))
            first_ns = batch.stamp_ns(int(valid_rows[0]))
            if plate.last_valid_ns is not None and \
                    first_ns - plate.last_valid_ns > s.max_gap_s * 1e9:
                plate.phase = Phase.LEARNING      # what happened while silent is unknown
            plate.last_valid_ns = last_ns
        elif plate.last_valid_ns is not None and \
                batch.stamp_ns(len(samples) - 1) - plate.last_valid_ns > s.max_gap_s * 1e9:
            plate.phase = Phase.LEARNING
            return
        trigger, _ = self._thresholds(plate)
        decided = counts >= min_count
        if plate.phase is Phase.RESTING and np.all(
                ~decided | ((stddevs <= trigger) & (np.abs(means - plate.baseline_g)
                                                   < s.min_delta_g))):
            self._follow_drift(plate, means[decided], stddevs[decided], period_ns)
            return
        for row in range(len(samples)):
            if decided[row]:
                self._step(slot, plate, batch.stamp_ns(row), means[row], stddevs[row],
                           window, period_ns)

    def _follow_drift(self, plate: _Plate, means, stddevs, period_ns) -> None:
        """Exponential moving averages of the window means and variances, sample by sample
        (in closed form, so any batching of the same samples gives the same baseline)."""
        count = means.size
        if count == 0:
            return
        keep = math.exp(-period_ns / (self.settings.baseline_tau_s * 1e9))
        weights = (1.0 - keep) * keep ** np.arange(count - 1, -1, -1)
        carried = keep ** count
        plate.baseline_g = carried * plate.baseline_g + float(weights @ means)
        plate.noise_var = carried * plate.noise_var + float(weights @ (stddevs * stddevs))

    def _step(self, slot: int, plate: _Plate, stamp_ns: int, mean: float, stddev: float,
              window: int, period_ns: float) -> None:
        s = self.settings
        trigger, settle = self._thresholds(plate)
        if plate.phase is Phase.LEARNING:
            if stddev <= settle:
                plate.phase = Phase.RESTING
                plate.baseline_g = mean
        elif plate.phase is Phase.RESTING:
            if stddev > trigger or abs(mean - plate.baseline_g) >= s.min_delta_g:
                plate.phase = Phase.ACTIVE
                plate.active_since_ns = stamp_ns
            else:
                self._follow_drift(plate, np.array([mean]), np.array([stddev]), period_ns)
        else:
            window_start_ns = stamp_ns - round((window - 1) * period_ns)
            if stddev <= settle and window_start_ns >= plate.active_since_ns:
                if abs(mean - plate.baseline_g) >= s.min_delta_g:
                    delta_stddev = math.sqrt(2.0 * plate.noise_var / window)
                    self._pending.append(_Pending(PlateChange(
                        slot=slot, started_ns=plate.active_since_ns,
                        settled_ns=window_start_ns, detected_ns=stamp_ns,
                        before_g=plate.baseline_g, after_g=mean,
                        delta_stddev_g=delta_stddev), waiting_since_ns=stamp_ns))
                plate.phase = Phase.RESTING
                plate.baseline_g = mean

    # ---- grouping touching plates
    def _release(self, now_ns: int | None) -> list[WeightEvent]:
        if not self._pending:
            return []
        gap_ns = self.settings.group_gap_s * 1e9
        groups = self._groups(gap_ns)
        events = []
        released: set[int] = set()
        for group in groups:
            members = [self._pending[i] for i in group]
            if now_ns is not None and self._neighbour_still_moving(members, gap_ns) and \
                    now_ns - min(m.waiting_since_ns for m in members) \
                    < self.settings.max_group_wait_s * 1e9:
                continue
            released.update(group)
            changes = sorted((m.change for m in members), key=lambda c: c.slot)
            events.append(WeightEvent(tuple(changes)))
        self._pending = [p for i, p in enumerate(self._pending) if i not in released]
        events.sort(key=lambda e: (e.settled_ns, e.slots))
        return events

    def _groups(self, gap_ns: float) -> list[list[int]]:
        """Pending changes joined when their plates touch and their activities overlap."""
        parent = list(range(len(self._pending)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i, a in enumerate(self._pending):
            for j in range(i + 1, len(self._pending)):
                b = self._pending[j]
                if b.change.slot in self.adjacent[a.change.slot] and \
                        _overlap(a.change, b.change, gap_ns):
                    parent[root(i)] = root(j)
        groups: dict[int, list[int]] = {}
        for i in range(len(self._pending)):
            groups.setdefault(root(i), []).append(i)
        return list(groups.values())

    def _neighbour_still_moving(self, members: list[_Pending], gap_ns: float) -> bool:
        own = {m.change.slot for m in members}
        latest_settle = max(m.change.settled_ns for m in members)
        for member in members:
            for neighbour in self.adjacent[member.change.slot]:
                plate = self._plates[neighbour]
                if neighbour not in own and plate.phase is Phase.ACTIVE and \
                        plate.active_since_ns <= latest_settle + gap_ns:
                    return True
        return False


def _overlap(a: PlateChange, b: PlateChange, gap_ns: float) -> bool:
    return a.started_ns <= b.settled_ns + gap_ns and b.started_ns <= a.settled_ns + gap_ns
