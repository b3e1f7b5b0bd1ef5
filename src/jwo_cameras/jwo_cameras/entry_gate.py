"""The entry gate's decisions on what its QR scanner reads (ROS-free).

The shopper's app shows a QR code whose payload is their opaque account token (letters,
digits, '_' and '-', 3 to 64 characters), followed by `+<n>` when they bring n guests
(1 to 9) in on their account: never a name, card or anything personal. One scan lets the
whole party in, so its members are not taken for people who slipped in without one.
A phone held up to the scanner is seen in many consecutive frames; those reads are one scan,
and the scan opens one session. Rejected, each with a reason:
- garbage: anything that is not a well-formed account token;
- replayed: a token that opened a session less than `replay_window_s` ago, i.e. a code shown
  again (a screenshot passed back over the gate) rather than the same phone still in view.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

APP_CODE = re.compile(r'(?P<token>[A-Za-z0-9_-]{3,64})(?:\+(?P<guests>[1-9]))?')


class AppCodeError(ValueError):
    """The payload is not an app code; the message says what is wrong."""


@dataclass(frozen=True)
class AppCode:
    account_token: str
    party_size: int           # the shopper and their guests


def parse_app_code(payload: str) -> AppCode:
    """The account token and party size of an app code payload, or AppCodeError."""
    if not isinstance(payload, str) or not payload:
        raise AppCodeError('empty code')
    match = APP_CODE.fullmatch(payload)
    if match is None:
        shown = payload if len(payload) <= 40 else payload[:37] + '...'
        raise AppCodeError(f'not an account token: {shown!r} (expected 3-64 of A-Z a-z 0-9 _ -, '
                           'then +1 to +9 guests)')
    return AppCode(match['token'], 1 + int(match['guests'] or 0))


@dataclass(frozen=True)
class Entry:
    event_id: str
    account_token: str
    stamp_ns: int
    party_size: int = 1


@dataclass(frozen=True)
class Rejection:
    reason: str
    stamp_ns: int


class EntryScanner:
    """Turns the codes decoded from successive frames (time in ns, sensor time) into entries
    and rejections; frames of one continuous scan give one decision."""

    def __init__(self, gate_id: str, scan_gap_s: float = 1.5, replay_window_s: float = 60.0):
        self._gate_id = gate_id
        self._scan_gap_ns = int(scan_gap_s * 1e9)
        self._replay_window_ns = int(replay_window_s * 1e9)
        self._last_read_ns: dict[str, int] = {}     # payload -> last frame it was seen in
        self._entered_ns: dict[str, int] = {}       # token -> when its session opened

    def read(self, payload: str, stamp_ns: int) -> Entry | Rejection | None:
        """A code decoded from the frame at `stamp_ns`; None when it continues a scan that
        was already decided."""
        previous = self._last_read_ns.get(payload)
        self._last_read_ns[payload] = max(stamp_ns, previous or stamp_ns)
        self._forget_before(stamp_ns)
        # A frame delivered late (out of order, or twice) belongs to the scan it was part of.
        if previous is not None and stamp_ns - previous <= self._scan_gap_ns:
            return None
        try:
            code = parse_app_code(payload)
        except AppCodeError as error:
            return Rejection(f'gate {self._gate_id}: {error}', stamp_ns)
        token = code.account_token
        entered = self._entered_ns.get(token)
        if entered is not None:
            return Rejection(f'gate {self._gate_id}: replayed code of account {token}: it opened '
                             f'a session {(stamp_ns - entered) / 1e9:.1f} s ago', stamp_ns)
        self._entered_ns[token] = stamp_ns
        return Entry(f'{self._gate_id}-{stamp_ns}', token, stamp_ns, code.party_size)

    def _forget_before(self, now_ns: int) -> None:
        # Bounded memory: scans and entries older than their windows cannot matter any more.
        horizon = max(self._scan_gap_ns, self._replay_window_ns)
        self._last_read_ns = {p: t for p, t in self._last_read_ns.items() if now_ns - t <= horizon}
        self._entered_ns = {p: t for p, t in self._entered_ns.items()
                            if now_ns - t < self._replay_window_ns}


class QrReader:
    """Reads the QR code in a greyscale image with OpenCV, or None. Each of OpenCV's two
    detectors misses codes the other reads (the classic one fails on some perfectly flat
    codes; the ArUco-based one on small tilted ones), and a phone held far from the scanner
    shows modules of 2-3 pixels that are only read once the image is enlarged. The
    enlarged try costs four times the others, and on the sample bags it read a code only
    where a detector had already located one it could not decode: so it runs only then,
    with the detectors that located it first and then the other (a slightly turned code of
    3.5-pixel modules is located only by the ArUco-based one and read by it once enlarged;
    another, turned 12 degrees with 3.3-pixel modules, is located only by the ArUco-based
    one too, but read enlarged only by the classic one)."""

    def __init__(self):
        self._classic = cv2.QRCodeDetector()
        self._aruco = cv2.QRCodeDetectorAruco()

    def read(self, gray: np.ndarray) -> tuple[str | None, bool]:
        """(the payload or None, whether a detector located a code at all)."""
        locators = []
        for detector in (self._classic, self._aruco):
            payload, points, _ = detector.detectAndDecode(gray)
            if points is not None and payload:
                return payload, True
            if points is not None:
                locators.append(detector)
        if not locators:
            return None, False
        enlarged = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
        others = [d for d in (self._classic, self._aruco) if d not in locators]
        for detector in locators + others:
            payload, points, _ = detector.detectAndDecode(enlarged)
            if points is not None and payload:
                return payload, True
        return None, True


class StillScene:
    """Which scanner frames are worth reading. Between scans the scanner watches an empty
    gate and sends the same picture every frame; reading it costs as much as reading a code.
    A frame that differs from the last one in which no code was located by at most
    `max_change` grey levels in every `cell_px` square (a phone coming into view changes its
    squares by tens; averaging a square keeps sensor noise far below that) shows nothing to
    read. It is still read once `reread_s` has passed since that frame, so a scene that
    stops changing never goes unread for long."""

    def __init__(self, reread_s: float = 1.0, max_change: float = 4.0, cell_px: int = 16):
        self._reread_ns = int(reread_s * 1e9)
        self._max_change = max_change
        self._cell_px = cell_px
        self._empty: np.ndarray | None = None      # thumbnail of the frame found empty
        self._empty_ns = 0
        self.skipped = 0

    def thumbnail(self, gray: np.ndarray) -> np.ndarray:
        height, width = gray.shape
        size = (max(width // self._cell_px, 1), max(height // self._cell_px, 1))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.int16)

    def worth_reading(self, stamp_ns: int, thumbnail: np.ndarray) -> bool:
        still = self._empty is not None and thumbnail.shape == self._empty.shape and \
            stamp_ns - self._empty_ns < self._reread_ns and \
            int(np.abs(thumbnail - self._empty).max()) <= self._max_change
        self.skipped += still
        return not still

    def read(self, stamp_ns: int, thumbnail: np.ndarray, located: bool) -> None:
        """What reading the frame found: with a code located, the frames after it are
        read whatever they show."""
        self._empty, self._empty_ns = (None, 0) if located else (thumbnail, stamp_ns)


class FrameBacklog:
    """Frames waiting for the QR reader, oldest first, at most `capacity`: a full backlog
    drops its oldest frame for the new one (counted in `skipped`). Thread-safe: frames are
    put on one thread and taken on another."""

    def __init__(self, capacity: int):
        self._frames: deque[tuple[int, np.ndarray]] = deque(maxlen=capacity)
        self._changed = threading.Condition()
        self._closed = False
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, stamp_ns: int, gray: np.ndarray) -> None:
        with self._changed:
            if len(self._frames) == self._frames.maxlen:
                self.skipped += 1
            self._frames.append((stamp_ns, gray))
            self._changed.notify()

    def take(self) -> tuple[int, np.ndarray] | None:
        """The oldest frame, waiting for one; None once closed."""
        with self._changed:
            self._changed.wait_for(lambda: self._frames or self._closed)
            return None if self._closed else self._frames.popleft()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
