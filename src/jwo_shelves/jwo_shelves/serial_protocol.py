"""Line protocols of the shelf devices on a serial port, and a non-blocking line reader.

Both devices stream ASCII lines ending in '\\n' (a '\\r' before it is ignored). Lines
starting with '#' are banners or comments and are skipped; any other line that does not
parse is counted as malformed and dropped, never raised.

Load-cell board (one line per sample period, all channels of the board):

    S,<seq>,<board_time_us>,<counts_0>,<counts_1>,...,<counts_N-1>

    seq            sample counter, +1 per line, wraps at 2**32; a jump means lost lines
    board_time_us  the board's monotonic clock in microseconds
    counts_i       raw ADC reading of channel i as a signed decimal integer, or empty or
                   'E' when that channel's converter reported an error (no reading)

    e.g. 'S,1041,17350000,84120,-3,E,120577'

RFID reader (one line per tag read):

    T,<antenna>,<epc_hex>,<rssi_dbm>[,<reader_time_us>]

    antenna        antenna port number, 0..255
    epc_hex        the tag's EPC, hexadecimal (any case; reported upper-case)
    rssi_dbm       received signal strength, decimal
    reader_time_us optional: the reader's monotonic clock in microseconds

    e.g. 'T,1,3034257BF400000000000042,-61.5,90210000'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import serial

SEQ_MODULO = 2 ** 32
_HEX = re.compile(r'^[0-9A-Fa-f]+$')


@dataclass(frozen=True)
class BoardSample:
    seq: int
    board_time_us: int
    counts: tuple[float, ...]      # NaN where the channel gave no reading


@dataclass(frozen=True)
class TagRead:
    antenna: int
    epc: str                       # upper-case hex
    rssi_dbm: float
    reader_time_us: int | None


class Malformed(ValueError):
    """A line that is neither a comment nor a valid record."""


def parse_board_line(line: str) -> BoardSample | None:
    """None for a comment or blank line; Malformed for garbage."""
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    fields = line.split(',')
    if fields[0] != 'S' or len(fields) < 4:
        raise Malformed(f'not a sample line: {line[:60]!r}')
    try:
        seq, board_time_us = int(fields[1]), int(fields[2])
        counts = tuple(math.nan if f.strip() in ('', 'E') else float(int(f)) for f in fields[3:])
    except ValueError:
        raise Malformed(f'bad number in sample line: {line[:60]!r}') from None
    if not 0 <= seq < SEQ_MODULO or board_time_us < 0:
        raise Malformed(f'seq or board time out of range: {line[:60]!r}')
    return BoardSample(seq, board_time_us, counts)


def parse_tag_line(line: str) -> TagRead | None:
    """None for a comment or blank line; Malformed for garbage."""
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    fields = line.split(',')
    if fields[0] != 'T' or len(fields) not in (4, 5):
        raise Malformed(f'not a tag line: {line[:60]!r}')
    try:
        antenna = int(fields[1])
        rssi_dbm = float(fields[3])
        reader_time_us = int(fields[4]) if len(fields) == 5 else None
    except ValueError:
        raise Malformed(f'bad number in tag line: {line[:60]!r}') from None
    epc = fields[2].strip()
    if not 0 <= antenna <= 255 or not _HEX.match(epc) or not math.isfinite(rssi_dbm):
        raise Malformed(f'bad antenna, EPC or RSSI: {line[:60]!r}')
    return TagRead(antenna, epc.upper(), rssi_dbm, reader_time_us)


def lost_between(previous_seq: int, seq: int) -> int:
    """Lines lost between two consecutive received sequence numbers."""
    return (seq - previous_seq - 1) % SEQ_MODULO


def counts_row(sample: BoardSample, channels: np.ndarray) -> np.ndarray:
    """The sample's readings of `channels` (NaN for channels the board did not send)."""
    row = np.full(len(channels), np.nan)
    present = channels < len(sample.counts)
    row[present] = np.asarray(sample.counts)[channels[present]]
    return row


class SerialLines:
    """Complete lines from a serial port, read without blocking; reopens after errors.

    `poll(now_s)` returns the lines that arrived since the last call. A port that cannot
    be opened or fails while reading is closed and retried every `retry_s`; `error`
    says why it is not open.
    """

    MAX_LINE = 4096

    def __init__(self, port: str, baud_rate: int, retry_s: float = 2.0):
        self.port = port
        self.baud_rate = baud_rate
        self.retry_s = retry_s
        self.error: str | None = 'not opened yet'
        self._serial: serial.Serial | None = None
        self._next_try_s = -math.inf
        self._partial = b''

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def poll(self, now_s: float) -> list[str]:
        if self._serial is None:
            if now_s < self._next_try_s:
                return []
            if not self.open(now_s):
                return []
        try:
            waiting = self._serial.in_waiting
            data = self._serial.read(waiting) if waiting else b''
        except (serial.SerialException, OSError) as error:
            self._fail(now_s, f'read failed: {error}')
            return []
        data = self._partial + data
        *lines, self._partial = data.split(b'\n')
        if len(self._partial) > self.MAX_LINE:      # a device spewing without newlines
            self._partial = b''
        return [line.decode('ascii', errors='replace') for line in lines]

    def open(self, now_s: float) -> bool:
        """Opens the port (input the device sent before this is discarded)."""
        try:
            self._serial = serial.Serial(self.port, self.baud_rate, timeout=0)
            self.error = None
            self._partial = b''
        except (serial.SerialException, OSError, ValueError) as error:
            self._fail(now_s, f'cannot open {self.port}: {error}')
        return self._serial is not None

    def _fail(self, now_s: float, reason: str) -> None:
        self.close()
        self.error = reason
        self._next_try_s = now_s + self.retry_s

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass    # closing a port that already vanished
            self._serial = None
