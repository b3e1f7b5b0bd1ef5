"""A RealSense made of software: frames we inject go through librealsense exactly as a
camera's would (`rs.software_device`), and `record` writes them to a `.db3` recording that
`RealSenseSource(recording=...)` plays back. Used to test the RealSense path without
hardware and to turn rendered frames into RealSense recordings."""

from __future__ import annotations

import numpy as np
import pyrealsense2 as rs

from jwo_cameras.camera_model import CameraModel


def _video_stream(kind, uid: int, model: CameraModel, fps: int, bpp: int, fmt):
    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = model.width, model.height
    intrinsics.fx, intrinsics.fy = model.fx, model.fy
    intrinsics.ppx, intrinsics.ppy = model.cx, model.cy
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [float(c) for c in (list(model.distortion) + [0.0] * 5)[:5]]
    stream = rs.video_stream()
    stream.type, stream.index, stream.uid = kind, 0, uid
    stream.width, stream.height, stream.fps = model.width, model.height, fps
    stream.bpp, stream.fmt, stream.intrinsics = bpp, fmt, intrinsics
    return stream


class SoftwareRealSense:
    """A depth (z16, 1 mm units) + colour (rgb8) device with the given intrinsics."""

    def __init__(self, model: CameraModel, fps: int, serial_number: str = 'SOFTWARE-0001'):
        self.device = rs.software_device()
        self.device.register_info(rs.camera_info.serial_number, serial_number)
        self.device.register_info(rs.camera_info.name, 'Software RealSense')
        self._depth_sensor = self.device.add_sensor('Depth')
        self._color_sensor = self.device.add_sensor('Color')
        self._depth_profile = self._depth_sensor.add_video_stream(
            _video_stream(rs.stream.depth, 0, model, fps, 2, rs.format.z16), True)
        self._depth_sensor.add_read_only_option(rs.option.depth_units, 0.001)
        self._color_profile = self._color_sensor.add_video_stream(
            _video_stream(rs.stream.color, 1, model, fps, 3, rs.format.rgb8), True)
        self.device.create_matcher(rs.matchers.dlr_c)
        self._width = model.width
        self._recorder = None
        # librealsense reads the pixels after on_video_frame returns: keep them alive.
        self._alive: list[np.ndarray] = []

    def record(self, path: str):
        """Frames injected from now on are also written to `path` (.db3) while the
        returned recorder lives; open the sensors through it (pass it as the device)."""
        self._recorder = rs.recorder(path, self.device)
        return self._recorder

    def inject(self, time_s: float, frame_number: int, depth_mm: np.ndarray | None = None,
               color_rgb: np.ndarray | None = None) -> None:
        for sensor, profile, pixels, bpp in (
                (self._depth_sensor, self._depth_profile, depth_mm, 2),
                (self._color_sensor, self._color_profile, color_rgb, 3)):
            if pixels is None:
                continue
            pixels = np.ascontiguousarray(pixels)
            self._alive = self._alive[-16:] + [pixels]
            frame = rs.software_video_frame()
            frame.pixels = pixels
            frame.bpp = bpp
            frame.stride = self._width * bpp
            frame.timestamp = time_s * 1000.0
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = frame_number
            frame.profile = profile.as_video_stream_profile()
            if bpp == 2:
                frame.depth_units = 0.001
            sensor.on_video_frame(frame)
