"""Frame rate, dropped frames and sensor-time mapping of one camera stream (ROS-free;
every time is passed in)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

# A device clock that strays this far from the host clock has restarted or jumped.
_CLOCK_JUMP_S = 1.0


class SensorClock:
    """Maps a device's own timestamps onto the host (ROS) clock.

    The offset is fixed at the first frame, so stamps keep the device's exact spacing
    (no host scheduling jitter); it is taken again after `reset()` (a reconnect) or when
    the device clock jumps.
    """

    def __init__(self):
        self._offset_s: float | None = None

    def reset(self) -> None:
        self._offset_s = None

    def to_host(self, device_time_s: float, host_now_s: float) -> float:
        if self._offset_s is None or \
                abs(device_time_s + self._offset_s - host_now_s) > _CLOCK_JUMP_S:
            self._offset_s = host_now_s - device_time_s
        return device_time_s + self._offset_s


@dataclass(frozen=True)
class HealthSnapshot:
    frames: int
    dropped: int
    reconnects: int
    rate_hz: float            # frames per second over the recent window
    last_frame_age_s: float | None
    connected: bool


class StreamHealth:
    """Counts frames, frames missing from the device's timeline, and reconnects."""

    def __init__(self, fps: float, window_s: float = 5.0):
        self._period_s = 1.0 / fps
        self._window_s = window_s
        self._arrivals: deque[float] = deque()
        self._last_device_time_s: float | None = None
        self._last_arrival_s: float | None = None
        self.frames = 0
        self.dropped = 0
        self.reconnects = 0
        self.connected = False

    def on_open(self) -> None:
        self.connected = True
        self._last_device_time_s = None    # a new session's clock is not comparable

    def on_lost(self) -> None:
        self.connected = False
        self.reconnects += 1

    def on_frame(self, device_time_s: float, host_now_s: float) -> int:
        """Counts a frame; returns how many frames are missing just before it."""
        self.frames += 1
        missing = 0
        last_s = self._last_device_time_s
        # A frame delivered late (reordered, or twice) neither fills a gap nor opens one.
        late = last_s is not None and last_s - _CLOCK_JUMP_S < device_time_s <= last_s
        if not late:
            if last_s is not None and device_time_s > last_s:
                gap_periods = (device_time_s - last_s) / self._period_s
                if gap_periods > 1.5:
                    missing = int(round(gap_periods)) - 1
                    self.dropped += missing
            self._last_device_time_s = device_time_s
        self._last_arrival_s = host_now_s
        self._arrivals.append(host_now_s)
        self._forget_before(host_now_s - self._window_s)
        return missing

    def _forget_before(self, time_s: float) -> None:
        while self._arrivals and self._arrivals[0] < time_s:
            self._arrivals.popleft()

    def snapshot(self, host_now_s: float) -> HealthSnapshot:
        self._forget_before(host_now_s - self._window_s)
        if len(self._arrivals) >= 2:
            span_s = max(host_now_s - self._arrivals[0], self._arrivals[-1] - self._arrivals[0])
            rate_hz = (len(self._arrivals) - 1) / span_s if span_s > 0 else 0.0
        else:
            rate_hz = 0.0
        age_s = None if self._last_arrival_s is None else host_now_s - self._last_arrival_s
        return HealthSnapshot(self.frames, self.dropped, self.reconnects, rate_hz, age_s,
                              self.connected)
