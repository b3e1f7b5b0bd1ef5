"""A load-cell board's sample lines -> evenly spaced batches of grams per slot.

Lost lines (gaps in the sequence numbers) become rows of NaN, so every batch keeps the
board's sample grid and the detector sees a dropout instead of a time warp. Sample times
come from the board's clock, anchored to the host clock by the smallest observed
host-minus-board offset (the line that arrived with the least delay).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from jwo_shelves.calibration import Calibration
from jwo_shelves.serial_protocol import BoardSample, Malformed, counts_row, lost_between, \
    parse_board_line

# A longer gap than this starts a new batch instead of being filled with NaN rows.
_MAX_FILLED_LINES = 60
# A board clock this far from the host's (a reboot, a clock jump) is anchored again.
_REANCHOR_NS = 1_000_000_000


@dataclass(frozen=True)
class GramsBatch:
    start_ns: int
    grams: np.ndarray          # [sample][slot]


class BoardBatcher:
    def __init__(self, channels: Iterable[int], sample_rate_hz: float,
                 calibration: Calibration, recent_samples: int = 30):
        self.channels = np.asarray(list(channels), dtype=np.intp)
        self.sample_rate_hz = sample_rate_hz
        self.calibration = calibration
        self.malformed_lines = 0
        self.lost_lines = 0
        self.last_problem: str | None = None
        self._recent = deque(maxlen=recent_samples)      # raw counts rows, for tare/span
        self._anchor_ns: int | None = None
        self._last: BoardSample | None = None

    @property
    def calibration(self) -> Calibration:
        return self._calibration

    @calibration.setter
    def calibration(self, calibration: Calibration) -> None:
        self._calibration = calibration
        self._offsets, self._scales = calibration.arrays(self.channels)

    def recent_mean_counts(self) -> dict[int, float]:
        """Mean raw counts of each channel over the last samples (NaN: no reading)."""
        if not self._recent:
            return {int(c): float('nan') for c in self.channels}
        rows = np.array(self._recent)
        valid = np.isfinite(rows)
        sums = np.where(valid, rows, 0.0).sum(axis=0)
        counts = valid.sum(axis=0)
        means = np.divide(sums, counts, out=np.full(len(self.channels), np.nan),
                          where=counts > 0)
        return {int(c): float(m) for c, m in zip(self.channels, means)}

    def add_lines(self, lines: Iterable[str], host_now_ns: int) -> list[GramsBatch]:
        samples = []
        for line in lines:
            try:
                sample = parse_board_line(line)
            except Malformed as error:
                self.malformed_lines += 1
                self.last_problem = str(error)
                continue
            if sample is not None:
                samples.append(sample)
        if not samples:
            return []
        self._anchor(samples, host_now_ns)
        batches: list[GramsBatch] = []
        rows: list[np.ndarray] = []
        start_ns = 0
        for sample in samples:
            counts = counts_row(sample, self.channels)
            self._recent.append(counts)
            restarted = self._last is not None and \
                sample.board_time_us <= self._last.board_time_us
            gap = 0 if self._last is None or restarted else lost_between(self._last.seq,
                                                                         sample.seq)
            self.lost_lines += gap
            if rows and (restarted or gap > _MAX_FILLED_LINES):
                batches.append(GramsBatch(start_ns, np.array(rows)))
                rows = []
            elif rows and gap:
                rows.extend([np.full(len(self.channels), np.nan)] * gap)
            if not rows:
                start_ns = self._anchor_ns + sample.board_time_us * 1000
            rows.append((counts - self._offsets) * self._scales)
            self._last = sample
        batches.append(GramsBatch(start_ns, np.array(rows)))
        return batches

    def _anchor(self, samples: list[BoardSample], host_now_ns: int) -> None:
        # Every line arrived at or before now, so now - board time bounds the offset from
        # above; the smallest bound seen is the least delayed line.
        offset_ns = host_now_ns - samples[-1].board_time_us * 1000
        rebooted = self._last is not None and samples[0].board_time_us < self._last.board_time_us
        if self._anchor_ns is None or rebooted or abs(offset_ns - self._anchor_ns) > _REANCHOR_NS:
            self._anchor_ns = offset_ns
        else:
            self._anchor_ns = min(self._anchor_ns, offset_ns)
