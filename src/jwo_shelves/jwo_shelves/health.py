"""Health of a stream of sensor channels: rate, missing readings, dead and stuck channels.

A load cell always shows a little noise in its last digits, so a channel that repeats the
exact same value for seconds is stuck (a frozen ADC, a broken wire read as a constant).
A channel with no valid reading for a while is dead. Both are reported; neither is
treated as weight information by the event detector (it sees NaN or a constant).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class Level(enum.IntEnum):
    """Same values as diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


@dataclass(frozen=True)
class HealthSettings:
    dead_after_s: float = 1.0              # no valid reading this long: dead
    stuck_after_s: float = 5.0             # the identical reading this long: stuck
    max_missing_fraction: float = 0.05     # more missing readings than this: warning
    min_rate_fraction: float = 0.9         # fewer samples than this share of expected: warning

    def __post_init__(self):
        for name in ('dead_after_s', 'stuck_after_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)!r}')


@dataclass(frozen=True)
class ChannelReport:
    name: str
    level: Level
    message: str
    missing_fraction: float       # share of this period's samples with no valid reading
    unchanged_s: float            # how long the channel has repeated its last value
    failing_since_ns: int | None = None   # dead or stuck: when it last read usefully


@dataclass(frozen=True)
class StreamReport:
    level: Level
    message: str
    rate_hz: float                # samples per channel per second over the period
    samples: int
    channels: tuple[ChannelReport, ...]

    @property
    def dead(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels if c.message.startswith('dead'))

    @property
    def stuck(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.channels if c.message.startswith('stuck'))


class StreamHealth:
    """Counts one stream's samples between reports; times are the caller's (ns)."""

    def __init__(self, channel_names: Sequence[str], expected_rate_hz: float,
                 settings: HealthSettings = HealthSettings(), started_ns: int = 0):
        self.channel_names = tuple(channel_names)
        self.expected_rate_hz = expected_rate_hz
        self.settings = settings
        count = len(self.channel_names)
        self._last_value = np.full(count, np.nan)
        # Channel times are the samples' own stamps: a replayed recording is judged by
        # its sensor time, not by when it is replayed.
        self._latest_ns: int | None = None
        self._last_valid_ns = np.zeros(count, dtype=np.int64)
        self._unchanged_since_ns = np.zeros(count, dtype=np.int64)
        self._ever_valid = np.zeros(count, dtype=bool)
        self._period_start_ns = started_ns
        self._samples = 0
        self._missing = np.zeros(count, dtype=np.int64)
        self.total_samples = 0
        self.total_gaps = 0

    def add(self, stamps_ns: np.ndarray, values: np.ndarray) -> None:
        """Samples [sample][channel] taken at `stamps_ns` (NaN = no valid reading)."""
        values = np.asarray(values, dtype=np.float64)
        stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
        if values.shape[0] == 0:
            return
        valid = np.isfinite(values)
        if self._latest_ns is None:
            self._last_valid_ns[:] = stamps_ns[0]
            self._unchanged_since_ns[:] = stamps_ns[0]
        self._latest_ns = int(stamps_ns[-1]) if self._latest_ns is None \
            else max(self._latest_ns, int(stamps_ns[-1]))
        self._samples += values.shape[0]
        self.total_samples += values.shape[0]
        self._missing += values.shape[0] - valid.sum(axis=0)
        any_valid = valid.any(axis=0)
        last_valid_row = values.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
        self._last_valid_ns = np.where(any_valid, stamps_ns[last_valid_row], self._last_valid_ns)
        self._ever_valid |= any_valid

        # Carry the last valid value forward over missing readings, then find where each
        # channel last changed value.
        rows = np.vstack([self._last_value[None, :], values])
        row_valid = np.isfinite(rows)
        fill_index = np.maximum.accumulate(
            np.where(row_valid, np.arange(rows.shape[0])[:, None], 0), axis=0)
        filled = np.take_along_axis(rows, fill_index, axis=0)
        changed = (filled[1:] != filled[:-1]) & np.isfinite(filled[1:])
        last_change = np.where(changed.any(axis=0),
                               values.shape[0] - 1 - np.argmax(changed[::-1], axis=0), -1)
        self._unchanged_since_ns = np.where(last_change >= 0, stamps_ns[last_change],
                                            self._unchanged_since_ns)
        self._last_value = filled[-1]

    def note_gap(self) -> None:
        """Lost samples the caller knows of (a skipped sequence number or message)."""
        self.total_gaps += 1

    def report(self, now_ns: int) -> StreamReport:
        """Status since the previous report (`now_ns` on the caller's clock, which only
        measures the rate); starts a new period."""
        s = self.settings
        period_s = max((now_ns - self._period_start_ns) / 1e9, 1e-9)
        rate_hz = self._samples / period_s
        channels = []
        for i, name in enumerate(self.channel_names):
            missing = float(self._missing[i] / self._samples) if self._samples else 1.0
            silent_s = 0.0 if self._latest_ns is None else \
                (self._latest_ns - self._last_valid_ns[i]) / 1e9
            unchanged_s = (self._last_valid_ns[i] - self._unchanged_since_ns[i]) / 1e9 \
                if self._ever_valid[i] else 0.0
            failing_since_ns = None
            if silent_s >= s.dead_after_s:
                level, message = Level.ERROR, f'dead: no valid reading for {silent_s:.1f} s'
                failing_since_ns = int(self._last_valid_ns[i])
            elif unchanged_s >= s.stuck_after_s:
                level, message = Level.ERROR, (f'stuck: {self._last_value[i]:.6g} for '
                                               f'{unchanged_s:.1f} s')
                failing_since_ns = int(self._unchanged_since_ns[i])
            elif missing > s.max_missing_fraction:
                level, message = Level.WARN, f'{missing:.0%} of readings missing'
            else:
                level, message = Level.OK, 'ok'
            channels.append(ChannelReport(name, level, message, missing, unchanged_s,
                                          failing_since_ns))
        if self._samples == 0:
            level, message = Level.STALE, f'no samples for {period_s:.1f} s'
            channels = [ChannelReport(c.name, Level.STALE, 'no samples', 1.0, c.unchanged_s,
                                      c.failing_since_ns) for c in channels]
        elif rate_hz < s.min_rate_fraction * self.expected_rate_hz:
            level, message = Level.WARN, (f'rate {rate_hz:.1f} Hz, expected '
                                          f'{self.expected_rate_hz:.1f} Hz')
        else:
            level, message = Level.OK, f'{rate_hz:.1f} Hz'
        worst = max([level, *(c.level for c in channels)])
        bad = [c for c in channels if c.level > Level.OK]
        if worst > level:
            message += f'; {len(bad)} channel(s) failing: ' + ', '.join(
                f'{c.name} {c.message}' for c in bad[:4]) + (' ...' if len(bad) > 4 else '')
        report = StreamReport(worst, message, rate_hz, self._samples, tuple(channels))
        self._period_start_ns = now_ns
        self._samples = 0
        self._missing[:] = 0
        return report
