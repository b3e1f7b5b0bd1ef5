"""Load-cell calibration: raw ADC counts to grams, tare and span, kept in a YAML file.

    grams = (counts - offset_counts) * grams_per_count

Tare takes the current readings of every channel as zero (an empty shelf). Calibrating
with a reference weight on one or more plates sets the span of each channel whose reading
moved clearly away from its zero; the others keep theirs, so plates are calibrated one
after another with the same reference weight.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import yaml


class CalibrationError(ValueError):
    """A calibration file or request that cannot be used; the message is one line."""


@dataclass(frozen=True)
class ChannelCalibration:
    offset_counts: float = 0.0
    grams_per_count: float = 1.0


@dataclass(frozen=True)
class Calibration:
    # Channels not listed read counts as grams (a board that already sends grams).
    channels: dict[int, ChannelCalibration] = field(default_factory=dict)

    def arrays(self, channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(offset_counts, grams_per_count) for `channels`, for vectorised conversion."""
        entries = [self.channels.get(int(c), ChannelCalibration()) for c in channels]
        return (np.array([e.offset_counts for e in entries]),
                np.array([e.grams_per_count for e in entries]))

    def tared(self, mean_counts: dict[int, float]) -> Calibration:
        """Every channel with a reading reads zero now."""
        missing = sorted(c for c, v in mean_counts.items() if not math.isfinite(v))
        if missing:
            raise CalibrationError(f'no readings from channel(s) {missing}; nothing tared')
        channels = dict(self.channels)
        for channel, counts in mean_counts.items():
            channels[channel] = replace(channels.get(channel, ChannelCalibration()),
                                        offset_counts=counts)
        return Calibration(channels)

    def spanned(self, mean_counts: dict[int, float], reference_g: float,
                min_counts: float) -> tuple[Calibration, list[int]]:
        """Sets the span of the channels loaded with `reference_g` (those more than
        `min_counts` away from their zero); returns them."""
        if not reference_g > 0:
            raise CalibrationError(f'reference weight must be > 0 g, got {reference_g}')
        channels = dict(self.channels)
        loaded = []
        for channel, counts in sorted(mean_counts.items()):
            current = channels.get(channel, ChannelCalibration())
            if math.isfinite(counts) and abs(counts - current.offset_counts) > min_counts:
                channels[channel] = replace(
                    current, grams_per_count=reference_g / (counts - current.offset_counts))
                loaded.append(channel)
        if not loaded:
            raise CalibrationError(f'no channel moved more than {min_counts:g} counts from its '
                                   'zero; put the reference weight on a plate first')
        return Calibration(channels), loaded


def load_calibration(path: Path) -> Calibration:
    """The calibration in `path`; an empty one when the file does not exist yet."""
    if not path.exists():
        return Calibration()
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
        entries = data['channels'] or {}
        return Calibration({int(channel): ChannelCalibration(
            offset_counts=float(entry['offset_counts']),
            grams_per_count=float(entry['grams_per_count']))
            for channel, entry in entries.items()})
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CalibrationError(f'{path}: expected channels: {{<channel>: {{offset_counts, '
                               f'grams_per_count}}}}: {reason}') from None


def save_calibration(path: Path, calibration: Calibration, shelf_id: str) -> None:
    """Writes atomically: a crash mid-write leaves the previous file intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {'shelf_id': shelf_id,
            'channels': {channel: {'offset_counts': entry.offset_counts,
                                   'grams_per_count': entry.grams_per_count}
                         for channel, entry in sorted(calibration.channels.items())}}
    text = ('# jwo load-cell calibration: grams = (counts - offset_counts) * grams_per_count\n'
            + yaml.safe_dump(data, sort_keys=False))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
