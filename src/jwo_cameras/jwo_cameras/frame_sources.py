"""Where camera frames come from, behind one small interface (ROS-free).

A `FrameSource` is opened, read frame by frame, and closed; the camera node reopens it
when it fails (`SourceError`) and stops or loops when a finite one ends (`EndOfStream`).

- `RealSenseSource`: an Intel RealSense by serial number, a recorded `.db3`, or any
  `rs.device` handed in (a `software_device` in tests). Its sensors stream into one frame
  queue and depth and colour are paired by timestamp here, the same way for all three.
- `OpenCvSource`: a device index, a video file (paced at its frame rate) or an RTSP URL.
- `BagSource`: a camera's depth and colour topics from a rosbag2 file (the simulator's),
  published with the bag's stamps.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from jwo_cameras.image_codec import decode


class SourceError(RuntimeError):
    """The source failed (unplugged, stream lost): close it and open it again."""


class EndOfStream(Exception):
    """A finite source (file, recording, bag) has no more frames."""


@dataclass
class Frame:
    device_time_s: float          # the source's clock: RealSense hardware time, video position..
    host_clock: bool              # device_time_s already is ROS time (bag stamps, grab time)
    sequence: int | None          # the device's frame counter where it has one
    color_rgb: np.ndarray | None = None      # (H, W, 3) uint8
    depth_mm: np.ndarray | None = None       # (H, W) uint16, 0 = no depth


class FrameSource(Protocol):
    description: str

    def open(self) -> None: ...

    def read(self, timeout_s: float) -> Frame | None:
        """The next frame, or None when none came within `timeout_s`."""

    def close(self) -> None: ...


class FramePairer:
    """Pairs depth and colour frames whose timestamps agree within `tolerance_s`; a frame
    whose partner can no longer come (the other stream has moved past it) goes out alone."""

    def __init__(self, streams: tuple[str, ...], tolerance_s: float):
        self._streams = streams
        self._tolerance_s = tolerance_s
        self._pending: dict[str, deque] = {s: deque() for s in streams}
        self._latest_s: dict[str, float] = {}

    def push(self, stream: str, time_s: float, sequence: int | None,
             image: np.ndarray) -> list[Frame]:
        if len(self._streams) == 1:
            return [_frame(time_s, sequence, {stream: image})]
        (other,) = [s for s in self._streams if s != stream]
        self._latest_s[stream] = time_s
        out = []
        partner = next((p for p in self._pending[other]
                        if abs(p[0] - time_s) <= self._tolerance_s), None)
        while self._pending[other] and self._pending[other][0] is not partner \
                and self._pending[other][0][0] < time_s:
            lone_time, lone_sequence, lone_image = self._pending[other].popleft()
            out.append(_frame(lone_time, lone_sequence, {other: lone_image}))
        if partner is not None:
            self._pending[other].popleft()
            # A pair carries the depth frame's time and counter (depth is what is measured).
            depth_time_s, depth_sequence = (time_s, sequence) if stream == 'depth' \
                else partner[:2]
            out.append(_frame(depth_time_s, depth_sequence, {stream: image, other: partner[2]}))
        else:
            self._pending[stream].append((time_s, sequence, image))
            latest_other = self._latest_s.get(other)
            while self._pending[stream] and latest_other is not None and \
                    self._pending[stream][0][0] < latest_other - self._tolerance_s:
                lone_time, lone_sequence, lone_image = self._pending[stream].popleft()
                out.append(_frame(lone_time, lone_sequence, {stream: lone_image}))
        return out


def _frame(time_s: float, sequence: int | None, images: dict[str, np.ndarray]) -> Frame:
    return Frame(time_s, False, sequence, images.get('color'), images.get('depth'))


class RealSenseSource:
    """Depth (z16, millimetres) and/or colour (rgb8) of an Intel RealSense."""

    def __init__(self, width: int, height: int, fps: float, depth: bool, color: bool,
                 serial_number: str | None = None, recording: str | None = None,
                 device=None, real_time: bool = True):
        self.description = (f'RealSense recording {recording}' if recording else
                            'RealSense (injected device)' if device is not None else
                            f'RealSense {serial_number or "(first found)"}')
        self._size = (width, height)
        self._fps = fps
        self._streams = tuple(s for s, wanted in (('depth', depth), ('color', color)) if wanted)
        self._serial_number = serial_number
        self._recording = recording
        self._injected = device
        self._real_time = real_time
        self._sensors: list = []
        self._playback = None
        self._queue = None
        self._ready: deque[Frame] = deque()
        self._pairer: FramePairer | None = None

    def _device(self, rs):
        if self._injected is not None:
            return self._injected
        context = rs.context()
        if self._recording:
            if not Path(self._recording).is_file():
                raise SourceError(f'no such RealSense recording {self._recording}')
            device = context.load_device(self._recording)
            self._playback = device.as_playback()
            self._playback.set_real_time(self._real_time)
            self._playback.pause()      # until every sensor listens, or early frames are lost
            return device
        for device in context.query_devices():
            if self._serial_number in (None, device.get_info(rs.camera_info.serial_number)):
                return device
        raise SourceError(f'RealSense {self._serial_number or "(any)"} not connected')

    def open(self) -> None:
        import pyrealsense2 as rs    # only where a RealSense is configured (needs libusb)
        wanted = {'depth': (rs.stream.depth, rs.format.z16),
                  'color': (rs.stream.color, rs.format.rgb8)}
        try:
            device = self._device(rs)
            self._queue = rs.frame_queue(8 * len(self._streams), True)
            chosen = []
            for stream in self._streams:
                sensor, profile = self._find_profile(device, *wanted[stream])
                chosen.append((sensor, profile))
            for sensor, profile in chosen:
                sensor.open(profile)
                sensor.start(self._queue)
                self._sensors.append(sensor)
            if self._playback is not None:
                self._playback.resume()
        except RuntimeError as error:     # librealsense reports device errors this way
            self.close()
            raise SourceError(f'{self.description}: {error}') from None
        except SourceError:
            self.close()
            raise
        self._pairer = FramePairer(self._streams, 0.5 / self._fps)

    def _find_profile(self, device, stream_type, stream_format):
        offered = []
        for sensor in device.query_sensors():
            for profile in sensor.get_stream_profiles():
                if profile.stream_type() != stream_type or not profile.is_video_stream_profile():
                    continue
                video = profile.as_video_stream_profile()
                size = (video.width(), video.height())
                offered.append(f'{size[0]}x{size[1]}@{profile.fps()} {profile.format()}')
                if size == self._size and profile.format() == stream_format and \
                        abs(profile.fps() - self._fps) < 0.5:
                    return sensor, profile
        raise SourceError(f'{self.description}: no {stream_type} stream {self._size[0]}x'
                          f'{self._size[1]}@{self._fps:g} {stream_format} (offered: '
                          f'{", ".join(offered) or "none"})')

    def read(self, timeout_s: float) -> Frame | None:
        import pyrealsense2 as rs
        deadline = time.monotonic() + timeout_s
        while not self._ready:
            remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
            ok, frame = self._queue.try_wait_for_frame(remaining_ms)
            if not ok:
                if self._playback is not None and \
                        self._playback.current_status() == rs.playback_status.stopped:
                    raise EndOfStream(self.description)
                return None
            stream = 'depth' if frame.get_profile().stream_type() == rs.stream.depth else 'color'
            pixels = np.asanyarray(frame.get_data()).copy()
            if stream == 'depth':
                # z16 counts depth units; a D400 uses 1 mm, others may not.
                units_mm = frame.as_depth_frame().get_units() * 1000.0
                if abs(units_mm - 1.0) > 1e-6:
                    pixels = np.clip(np.rint(pixels * units_mm), 0, 65535).astype(np.uint16)
            self._ready.extend(self._pairer.push(stream, frame.get_timestamp() / 1000.0,
                                                 frame.get_frame_number(), pixels))
        return self._ready.popleft()

    def close(self) -> None:
        for sensor in self._sensors:
            for step in (sensor.stop, sensor.close):
                try:
                    step()
                except RuntimeError:
                    pass        # an unplugged device cannot stop; closing is best effort
        self._sensors = []
        self._playback = None
        self._queue = None
        self._ready.clear()


class OpenCvSource:
    """cv2.VideoCapture: a device index, a video file or a network stream URL."""

    def __init__(self, uri: int | str, fps: float, real_time: bool = True):
        self.description = f'OpenCV {uri}'
        self._uri = uri
        self._fps = fps
        self._is_file = isinstance(uri, str) and '://' not in uri
        self._real_time = real_time
        self._capture = None
        self._started_at = 0.0
        self._first_position_s: float | None = None

    def open(self) -> None:
        if self._is_file and not Path(self._uri).is_file():
            raise SourceError(f'{self.description}: no such video file')
        capture = cv2.VideoCapture(self._uri)
        if not capture.isOpened():
            raise SourceError(f'{self.description}: cannot open')
        self._capture = capture
        self._started_at = time.monotonic()
        self._first_position_s = None

    def read(self, timeout_s: float) -> Frame | None:
        ok, bgr = self._capture.read()
        grabbed_at = time.time()
        if not ok:
            if self._is_file:
                raise EndOfStream(self.description)
            raise SourceError(f'{self.description}: stream lost')
        sequence = int(self._capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if bgr.ndim == 3 else \
            cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB)
        if not self._is_file:
            return Frame(grabbed_at, True, sequence, rgb)
        # A file plays at its own rate: frame n is due n periods after the first.
        position_s = sequence / self._fps
        if self._real_time:
            wait_s = self._started_at + position_s - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
        return Frame(position_s, False, sequence, rgb)

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        self._capture = None


class BagSource:
    """A camera's `/cameras/<id>/{depth,color}/image_raw` from a rosbag2 file, paced by the
    recorded stamps."""

    def __init__(self, path: str, camera_id: str, depth: bool, color: bool,
                 real_time: bool = True):
        self.description = f'bag {path} ({camera_id})'
        self._path = Path(path)
        self._topics = {f'/cameras/{camera_id}/{stream}/image_raw': stream
                        for stream, wanted in (('depth', depth), ('color', color)) if wanted}
        self._real_time = real_time
        self._reader = None
        self._messages = None
        self._pairer: FramePairer | None = None
        self._ready: deque[Frame] = deque()
        self._started_at = 0.0
        self._first_stamp_s: float | None = None
        self._tolerance_s = 0.005

    def open(self) -> None:
        from rosbags.highlevel import AnyReader
        if not self._path.exists():
            raise SourceError(f'{self.description}: no such bag')
        try:
            self._reader = AnyReader([self._path])
            self._reader.open()
        except Exception as error:     # rosbags raises several unrelated types for bad files
            self._reader = None
            raise SourceError(f'{self.description}: cannot read: {error}') from None
        connections = [c for c in self._reader.connections if c.topic in self._topics]
        if not connections:
            self.close()
            raise SourceError(f'{self.description}: none of the topics {sorted(self._topics)}')
        streams = tuple(sorted({self._topics[c.topic] for c in connections}))
        self._pairer = FramePairer(streams, self._tolerance_s)
        self._messages = self._reader.messages(connections=connections)
        self._started_at = time.monotonic()
        self._first_stamp_s = None

    def read(self, timeout_s: float) -> Frame | None:
        while not self._ready:
            item = next(self._messages, None)
            if item is None:
                raise EndOfStream(self.description)
            connection, _, raw = item
            msg = self._reader.deserialize(raw, connection.msgtype)
            stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            self._ready.extend(self._pairer.push(self._topics[connection.topic], stamp_s,
                                                 None, decode(msg)))
        frame = self._ready.popleft()
        frame.host_clock = True
        if self._real_time:
            if self._first_stamp_s is None:
                self._first_stamp_s = frame.device_time_s
            wait_s = self._started_at + frame.device_time_s - self._first_stamp_s \
                - time.monotonic()
            if wait_s > 0:
                time.sleep(wait_s)
        return frame

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = None
        self._messages = None
        self._ready.clear()
