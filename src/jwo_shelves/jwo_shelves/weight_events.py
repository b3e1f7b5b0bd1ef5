"""Pick/put detection from raw per-plate weights: a moving-variance trigger and settling.

Each plate (slot) is watched on its own, the way AIM3S and AutoCheckout do it: while the
moving standard deviation over a short window (0.5 s at 60 Hz) is low the plate is at
rest and its baseline slowly follows the readings, which absorbs the drift of the cell.
A dropout (a NaN burst) inside a window leaves fewer readings to judge by; a plate may
also settle on a second window, of the last 0.5 s worth of readings reaching back over the
missing samples (at most one more window), so a plate that rests on both sides of a short
dropout is seen settled without waiting for a whole new window after it.
A burst of variance (a hand taking or placing something) or a jump of the mean away from
the baseline starts an activity; once a whole window is quiet again the plate has
settled, and the settled level minus the baseline before is the plate's weight change.
A hand that only pressed on the plate settles back to the baseline: no change.

Units leave or land on a plate at once, while a hand's force changes smoothly: such a jump
is a lift. When two hands take from one plate in turn it may never rest between them; if
the change's lifts are far enough apart and add up to it, each lift is reported as a change
of its own (the parts meet halfway between the lifts), so each can go to its own shopper.

Plates whose activities overlap in time and that touch each other are reported together
as one `WeightEvent` (an item lying across two plates moves weight on both); whether that
is one item or several is for identification to judge.

Time is the samples' own stamps; nothing here reads a clock.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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
    settle_sigmas: float = 2.0         # window stddev at or below this many: settled
    min_settle_stddev_g: float = 0.75
    # ... and its newer half's mean this many standard errors or less from the whole
    # window's: a plate still creeping (a hand lifting off slowly) has not settled.
    settle_trend_sigmas: float = 3.0
    min_settle_trend_g: float = 0.2
    min_delta_g: float = 10.0          # smaller settled changes are not events ...
    delta_sigmas: float = 5.0          # ... nor those within this many of their own noise
    baseline_tau_s: float = 2.0        # how fast the resting baseline follows drift
    group_gap_s: float = 0.3           # activities this close in time on touching plates group
    max_group_wait_s: float = 0.25     # longest wait for a touching plate to settle
    max_gap_s: float = 1.0             # a plate silent longer than this re-learns its baseline
    max_active_s: float = 30.0         # a plate moving longer than this re-learns its noise
    min_valid_fraction: float = 0.4    # of a window's samples, for any decision
    # Units leave or land on a plate at once, while a hand's force on it rises and falls
    # smoothly: a sample-to-sample jump this many noise stddevs beyond the jumps around it
    # is a lift (or a drop).
    lift_sigmas: float = 5.0
    # Lifts this far apart in one activity (two shoppers' hands in turn, the plate never
    # resting between them) are reported as one change each, when they add up to the
    # whole change; closer ones are one lift.
    min_lift_gap_s: float = 0.3

    def __post_init__(self):
        for name in ('window_s', 'noise_stddev_g', 'trigger_sigmas', 'settle_sigmas',
                     'min_delta_g', 'baseline_tau_s', 'max_gap_s', 'max_active_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)!r}')
        if not self.min_lift_gap_s > 0 or not self.lift_sigmas > 0:
            raise ValueError('min_lift_gap_s and lift_sigmas must be > 0, got '
                             f'{self.min_lift_gap_s} and {self.lift_sigmas}')
        if not 0 < self.min_valid_fraction <= 1:
            raise ValueError('min_valid_fraction must be in (0, 1], got '
                             f'{self.min_valid_fraction}')


class Phase(enum.IntEnum):
    LEARNING = 0      # no baseline yet (start-up, or back after a long silence)
    RESTING = 1
    ACTIVE = 2


# A lift is judged on the 3 jumps either side of it (the median of 3 is written out).
_LIFT_SPAN = 3

# Plain ints for the per-sample code: enum attribute lookups cost more than the arithmetic.
_LEARNING, _RESTING, _ACTIVE = int(Phase.LEARNING), int(Phase.RESTING), int(Phase.ACTIVE)


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
    lifted_ns: int = 0        # when its units left or landed (one lift seen); 0: not seen

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


@dataclass(frozen=True)
class _Window:
    """One window's statistics at one sample of one plate."""

    mean: float
    stddev: float
    trend: float               # newer half's mean minus the mean; NaN: too few readings
    readings: int              # for the trend's standard error
    start_ns: int              # where the window starts


@dataclass
class _Pending:
    change: PlateChange
    waiting_since_ns: int
    # The change as one per lift, when its lifts account for it (see min_lift_gap_s).
    parts: tuple[PlateChange, ...] = ()


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
        # Per-plate state as arrays: plates at rest are updated together, only plates
        # with something going on are stepped sample by sample.
        count = self.slot_count
        self._phase = np.full(count, _LEARNING, dtype=np.int8)
        self._baseline_g = np.full(count, np.nan)
        self._noise_var = np.full(count, self.settings.noise_stddev_g ** 2)
        self._active_since_ns = np.zeros(count, dtype=np.int64)
        self._last_valid_ns = np.zeros(count, dtype=np.int64)
        self._seen = np.zeros(count, dtype=bool)
        self._history: np.ndarray | None = None     # the last 2 windows - 1 samples
        self._history_stamps = np.zeros(0, dtype=np.int64)
        self._history_rate_hz = 0.0
        self._next_ns: int | None = None
        self._pending: list[_Pending] = []
        self._lifts: list[list[tuple[int, float]]] = [[] for _ in range(count)]

    # ---- public
    def phase(self, slot: int) -> Phase:
        return Phase(self._phase[slot])

    def noise_stddev_g(self, slot: int) -> float:
        return math.sqrt(self._noise_var[slot])

    def baseline_g(self, slot: int) -> float:
        return float(self._baseline_g[slot])

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
        s = self.settings
        valid = np.isfinite(grams)
        grams = np.where(valid, grams, np.nan)
        n = grams.shape[0]
        period_ns = 1e9 / batch.sample_rate_hz
        stamps = batch.start_ns + np.round(np.arange(n) * period_ns).astype(np.int64)
        window = max(2, round(s.window_s * batch.sample_rate_hz))
        self._join_history(batch, window)
        self._note_lifts(grams, stamps)
        # Only a plate that is moving may settle on a bridged window.
        bridge = self._phase == _ACTIVE
        timed, bridged = self._window_stats(grams, valid, stamps, window, period_ns, bridge)
        means, stddevs, _, counts, _ = timed
        self._history = np.concatenate([self._history, grams])[-(2 * window - 1):]
        self._history_stamps = np.concatenate([self._history_stamps, stamps])[
            -(2 * window - 1):]
        self._next_ns = batch.stamp_ns(n)
        self._forget_silent(valid, stamps)

        enough = max(2, math.ceil(s.min_valid_fraction * window))
        decided = counts >= enough
        # A missing sample brings no news: the bridged window it would end is the last one.
        bridged_decided = np.zeros_like(decided)
        if bridged is not None:
            bridged_decided[:, bridge] = valid[:, bridge] & (bridged[3] >= enough)
            # Back to all plates' columns, so rows and slots index both the same way.
            bridged = tuple(_widen(column, bridge) for column in bridged)
        trigger, _, min_delta = self._thresholds(self._noise_var, window)
        calm = (stddevs <= trigger) & (np.abs(means - self._baseline_g) < min_delta)
        at_rest = (self._phase == _RESTING) & decided.all(axis=0) & calm.all(axis=0)
        self._follow_drift(at_rest, means[:, at_rest], stddevs[:, at_rest], period_ns)
        either = decided | bridged_decided
        for slot in np.flatnonzero(~at_rest & either.any(axis=0)):
            for row in np.flatnonzero(either[:, slot]):
                windows = [_Window(*(float(column[row, slot]) for column in stats[:3]),
                                   int(stats[3][row, slot]), int(stats[4][row, slot]))
                           for stats, judged in ((timed, decided), (bridged, bridged_decided))
                           if judged[row, slot]]
                self._step(int(slot), int(stamps[row]), windows, window, period_ns)
        return self._release(int(stamps[-1]))

    def flush(self) -> list[WeightEvent]:
        """Releases every settled change still waiting for a neighbour (end of a recording)."""
        return self._release(None)

    # ---- per-sample statistics, vectorised over samples and plates
    def _join_history(self, batch: LoadCellBatch, window: int) -> None:
        period_ns = 1e9 / batch.sample_rate_hz
        kept = 2 * window - 1
        fresh = np.full((kept, self.slot_count), np.nan)
        if self._history is None or self._history_rate_hz != batch.sample_rate_hz \
                or self._history.shape[0] != kept:
            self._history = fresh
        elif self._next_ns is not None and abs(batch.start_ns - self._next_ns) > 1.5 * period_ns:
            # Lost or out-of-order messages: the window must not join samples across the gap.
            self._history = fresh
        if self._history is fresh:
            self._history_stamps = np.zeros(kept, dtype=np.int64)
        self._history_rate_hz = batch.sample_rate_hz

    def _window_stats(self, grams: np.ndarray, valid: np.ndarray, stamps: np.ndarray,
                      window: int, period_ns: float, bridge: np.ndarray):
        """Per sample of the batch and plate, (mean, stddev, trend, readings, start stamp) of
        the window of the last `window` samples (halves by time), and of the plates `bridge`
        selects the same for the bridged window: the last `window` readings within the last
        2 * `window` samples (halves by readings)."""
        joined_valid = np.concatenate([np.isfinite(self._history), valid])
        joined = np.concatenate([self._history, grams])
        # Centre on a per-plate reading so the sum of squares keeps its precision.
        first_valid = joined[np.argmax(joined_valid, axis=0), np.arange(self.slot_count)]
        reference = np.where(np.isfinite(first_valid), first_valid, 0.0)
        centred = np.where(joined_valid, joined - reference, 0.0)
        # Row k of the cumulative sums covers joined rows < k; row 0 is zero.
        stacked = np.zeros((joined.shape[0] + 1, 3, self.slot_count))
        stacked[1:, 0] = centred
        stacked[1:, 1] = centred * centred
        stacked[1:, 2] = joined_valid
        cumulative = np.cumsum(stacked, axis=0)
        ends = self._history.shape[0] + 1 + np.arange(grams.shape[0])
        needed = max(2, math.ceil(self.settings.min_valid_fraction * (window // 2)))

        def stats(at_end, at_start, at_newer, reference):
            """From the cumulative sums at the window's end, start and newer half's start."""
            totals, newer = at_end - at_start, at_end - at_newer
            count, newer_count = totals[:, 2], newer[:, 2]
            # Too few readings in either half tell nothing about a trend: NaN, so the plate
            # waits for readings rather than settle on one half, which may still hold the
            # end of the hand's force or a creep the other half would have shown.
            enough = (newer_count >= needed) & (count - newer_count >= needed)
            with np.errstate(all='ignore'):
                mean = totals[:, 0] / count
                trend = np.where(enough, newer[:, 0] / newer_count - mean, np.nan)
                variance = totals[:, 1] / count - mean * mean
                # Sample variance (n-1) so a short window does not look quieter than it is.
                variance = np.maximum(variance, 0.0) * count / np.maximum(count - 1, 1)
            return mean + reference, np.sqrt(variance), trend, count

        at_end = cumulative[ends]
        timed_start_ns = np.repeat((stamps - round((window - 1) * period_ns))[:, None],
                                   self.slot_count, axis=1)
        timed = (*stats(at_end, cumulative[ends - window], cumulative[ends - window // 2],
                        reference), timed_start_ns)
        if not bridge.any():
            return timed, None
        picked = cumulative[:, :, bridge]
        readings = picked[:, 2]
        total = readings[ends]
        count = np.minimum(window, total - readings[np.maximum(ends - 2 * window, 0)])

        def row_of(k: np.ndarray) -> np.ndarray:
            """The first cumulative row that counts k readings."""
            return (readings[:, None, :] < k[None, :, :]).sum(axis=0)

        def gathered(rows: np.ndarray) -> np.ndarray:
            return np.take_along_axis(picked, rows[:, None, :], axis=0)

        joined_stamps = np.concatenate([self._history_stamps, stamps])
        first_reading = np.clip(row_of(total - count + 1) - 1, 0, joined.shape[0] - 1)
        bridged = (*stats(at_end[:, :, bridge], gathered(row_of(total - count)),
                          gathered(row_of(total - count // 2)), reference[bridge]),
                   joined_stamps[first_reading])
        return timed, bridged

    def _note_lifts(self, grams: np.ndarray, stamps: np.ndarray) -> None:
        """Remembers each plate's lifts: jumps from one sample to the next that stand out from
        the median of the `_LIFT_SPAN` jumps before and of those after. Each sample is judged
        once, when the samples after it have come."""
        # The samples the unjudged jumps' windows span: the last 2 x span + 1 before the batch.
        kept = min(2 * _LIFT_SPAN + 1, self._history.shape[0])
        joined = np.concatenate([self._history[-kept:], grams])
        joined_stamps = np.concatenate([self._history_stamps[-kept:], stamps])
        jumps = np.diff(joined, axis=0)              # jumps[j] = joined[j + 1] - joined[j]
        count = jumps.shape[0] - 2 * _LIFT_SPAN      # windows, each centred on a jump
        limit = np.maximum(self.settings.min_delta_g,
                           self.settings.lift_sigmas * np.sqrt(2.0 * self._noise_var))
        # Most batches of a shelf at rest: no jump differs from another by a lift.
        with np.errstate(invalid='ignore'):
            if count <= 0 or not (np.abs(jumps) > limit / 2).any():
                return
        centre = jumps[_LIFT_SPAN:_LIFT_SPAN + count]
        # Beyond the jumps on both sides, the same way: where a hand starts or stops
        # pressing, the jumps change from one side to the other, and a jump between the two
        # (a sample in the middle of the change) is not a lift.
        beyond_before = centre - _median_of_3(jumps, 0, count)
        beyond_after = centre - _median_of_3(jumps, _LIFT_SPAN + 1, count)
        excess = np.where(np.abs(beyond_before) < np.abs(beyond_after), beyond_before,
                          beyond_after)
        # NaN (a missing reading nearby) compares false: no lift is judged on a gap.
        with np.errstate(invalid='ignore'):
            rows, slots = np.nonzero((beyond_before * beyond_after > 0)
                                     & (np.abs(excess) > limit))
        # A glitching cell at rest makes lifts no activity uses: keep those an activity that
        # may still settle (at most max_active_s long) could.
        horizon_ns = (self.settings.max_active_s + self.settings.window_s) * 1e9
        for row, slot in zip(rows, slots):
            # Stamped at the first sample of the new level.
            stamp_ns = int(joined_stamps[_LIFT_SPAN + row + 1])
            self._lifts[slot] = [lift for lift in self._lifts[slot]
                                 if lift[0] >= stamp_ns - horizon_ns]
            self._lifts[slot].append((stamp_ns, float(excess[row, slot])))

    def _forget_silent(self, valid: np.ndarray, stamps: np.ndarray) -> None:
        """A plate silent longer than max_gap_s re-learns its baseline: what happened to
        it meanwhile is unknown."""
        n = valid.shape[0]
        any_valid = valid.any(axis=0)
        first_ns = stamps[np.argmax(valid, axis=0)]
        last_ns = stamps[n - 1 - np.argmax(valid[::-1], axis=0)]
        limit_ns = self.settings.max_gap_s * 1e9
        silent_ns = np.where(any_valid, first_ns, stamps[-1]) - self._last_valid_ns
        silent = self._seen & (silent_ns > limit_ns)
        self._phase[silent] = _LEARNING
        self._last_valid_ns = np.where(any_valid, last_ns, self._last_valid_ns)
        self._seen |= any_valid

    # ---- the plates' state machine
    def _thresholds(self, noise_var, window: int):
        """(trigger stddev, settle stddev, smallest change) for plates of this noise."""
        noise = np.sqrt(noise_var)
        s = self.settings
        return (np.maximum(s.min_trigger_stddev_g, s.trigger_sigmas * noise),
                np.maximum(s.min_settle_stddev_g, s.settle_sigmas * noise),
                np.maximum(s.min_delta_g, s.delta_sigmas * noise * math.sqrt(2.0 / window)))

    def _follow_drift(self, plates, means: np.ndarray, stddevs: np.ndarray,
                      period_ns: float) -> None:
        """Exponential moving averages of the window means and variances of resting plates,
        sample by sample (in closed form, so any batching of the same samples gives the
        same baseline)."""
        count = means.shape[0]
        if count == 0 or means.size == 0:
            return
        keep = math.exp(-period_ns / (self.settings.baseline_tau_s * 1e9))
        weights = (1.0 - keep) * keep ** np.arange(count - 1, -1, -1)
        carried = keep ** count
        self._baseline_g[plates] = carried * self._baseline_g[plates] + weights @ means
        self._noise_var[plates] = carried * self._noise_var[plates] + weights @ (stddevs ** 2)

    def _step(self, slot: int, stamp_ns: int, windows: list[_Window], window: int,
              period_ns: float) -> None:
        """`windows`: the sample's judged windows, the timed one first."""
        s = self.settings
        trigger, settle, min_delta = self._thresholds(self._noise_var[slot], window)
        phase = self._phase[slot]
        baseline = self._baseline_g[slot]
        first = windows[0]
        if phase == _LEARNING:
            # The noise level is learnt here too, or a cell noisier than the first guess
            # would never look settled enough to start.
            self._follow_drift([slot], np.array([[first.mean]]), np.array([[first.stddev]]),
                               period_ns)
            if first.stddev <= settle:
                self._phase[slot] = _RESTING
                self._baseline_g[slot] = first.mean
        elif phase == _RESTING:
            if first.stddev > trigger or abs(first.mean - baseline) >= min_delta:
                self._phase[slot] = _ACTIVE
                self._active_since_ns[slot] = stamp_ns
                # A lift may be judged a few samples before the window shows it moving.
                self._lifts[slot] = [lift for lift in self._lifts[slot]
                                     if lift[0] >= first.start_ns]
            else:
                self._follow_drift([slot], np.array([[first.mean]]),
                                   np.array([[first.stddev]]), period_ns)
        elif stamp_ns - self._active_since_ns[slot] > s.max_active_s * 1e9:
            # Never settling is a cell that became noisier (a compressor started nearby),
            # not a shopper: learn the plate again rather than stay blind on it.
            self._phase[slot] = _LEARNING
        else:
            for quiet in windows:
                steady = abs(quiet.trend) <= max(
                    s.min_settle_trend_g,
                    s.settle_trend_sigmas * math.sqrt(self._noise_var[slot] / quiet.readings))
                if quiet.stddev <= settle and steady and \
                        quiet.start_ns >= self._active_since_ns[slot]:
                    self._settle(slot, stamp_ns, quiet, min_delta)
                    return

    def _settle(self, slot: int, stamp_ns: int, quiet: _Window, min_delta: float) -> None:
        # The first quiet window still holds the fading end of the hand's force at its older
        # end, which pulls its mean towards the level before; its newer half is past it (a
        # +1 g lean on the hard simulator scenarios otherwise).
        after = quiet.mean + quiet.trend
        baseline = self._baseline_g[slot]
        if abs(after - baseline) >= min_delta:
            # A lift may come before the window shows the plate moving (it came back from a
            # dropout mid-change): the weight had begun to change by then.
            started_ns = min([int(self._active_since_ns[slot])]
                             + [lift_ns for lift_ns, _ in self._lifts[slot]])
            change = PlateChange(
                slot=slot, started_ns=started_ns,
                settled_ns=quiet.start_ns, detected_ns=stamp_ns,
                before_g=float(baseline), after_g=after,
                delta_stddev_g=math.sqrt(self._noise_var[slot]
                                         * (1.0 / quiet.readings + 2.0 / quiet.readings)))
            lifts = self._merged_lifts(change)
            if len(lifts) == 1 and lifts[0][2] * change.delta_g > 0:
                change = replace(change, lifted_ns=lifts[0][0])
            self._pending.append(_Pending(change, waiting_since_ns=stamp_ns,
                                          parts=self._parts(change, lifts, min_delta)))
        self._lifts[slot] = []
        self._phase[slot] = _RESTING
        self._baseline_g[slot] = after

    def _merged_lifts(self, change: PlateChange) -> list[list]:
        """The change's lifts as [first stamp, last stamp, grams]: those closer together
        than min_lift_gap_s are one."""
        gap_ns = self.settings.min_lift_gap_s * 1e9
        lifts: list[list] = []
        for stamp_ns, grams in self._lifts[change.slot]:
            if not change.started_ns - gap_ns <= stamp_ns <= change.settled_ns:
                continue
            if lifts and stamp_ns - lifts[-1][1] < gap_ns:
                lifts[-1][1:] = [stamp_ns, lifts[-1][2] + grams]
            else:
                lifts.append([stamp_ns, stamp_ns, grams])
        return lifts

    def _parts(self, change: PlateChange, lifts: list[list], min_delta: float
               ) -> tuple[PlateChange, ...]:
        """The change split at its lifts, or () unless it had two or more lifts, far enough
        apart, all one way, that add up to the change."""
        if len(lifts) < 2 or any(grams * change.delta_g <= 0 or abs(grams) < min_delta
                                 for *_, grams in lifts):
            return ()
        # A hand's force changing as it lifts leaves each lift a little off; a missed lift
        # (a unit or more, and lifts are seldom over four units) leaves the sum short by
        # more than a quarter of the lightest.
        total = sum(grams for *_, grams in lifts)
        if abs(total - change.delta_g) > max(min_delta, 0.25 * min(abs(g) for *_, g in lifts)):
            return ()
        # Each part ends halfway to the next lift; the measured change is shared out in
        # proportion to the lifts (their sum differs from it by the hands' force).
        bounds = [change.started_ns] + [(a[1] + b[0]) // 2 for a, b in zip(lifts, lifts[1:])] \
            + [change.settled_ns]
        parts, before = [], change.before_g
        for (lifted_ns, _, grams), start_ns, end_ns in zip(lifts, bounds, bounds[1:]):
            delta = change.delta_g * grams / total
            parts.append(replace(change, started_ns=int(start_ns), settled_ns=int(end_ns),
                                 before_g=before, after_g=before + delta, lifted_ns=lifted_ns))
            before += delta
        return tuple(parts)

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
            if len(members) == 1 and members[0].parts:
                events.extend(WeightEvent((part,)) for part in members[0].parts)
                continue
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
                if neighbour not in own and self._phase[neighbour] == _ACTIVE and \
                        self._active_since_ns[neighbour] <= latest_settle + gap_ns:
                    return True
        return False


def _median_of_3(rows: np.ndarray, first: int, count: int) -> np.ndarray:
    """Per row i < count, the median of rows[first + i : first + i + 3] (NaN if any is)."""
    a, b, c = rows[first:first + count], rows[first + 1:first + 1 + count], \
        rows[first + 2:first + 2 + count]
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def _widen(column: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """A [sample][selected plate] array as [sample][plate], zero elsewhere."""
    wide = np.zeros((column.shape[0], selected.shape[0]), dtype=column.dtype)
    wide[:, selected] = column
    return wide


def _overlap(a: PlateChange, b: PlateChange, gap_ns: float) -> bool:
    return a.started_ns <= b.settled_ns + gap_ns and b.started_ns <= a.settled_ns + gap_ns
