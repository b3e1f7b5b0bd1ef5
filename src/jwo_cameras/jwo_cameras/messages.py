"""Conversions between our cores' arrays and dataclasses and ROS messages."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from jwo_cameras.camera_model import CameraModel
from jwo_cameras.image_codec import encode


def to_time(seconds: float) -> Time:
    nanoseconds = max(0, round(seconds * 1e9))
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def image_msg(array: np.ndarray, encoding: str, header: Header) -> Image:
    fields = encode(array, encoding)
    return Image(header=header, height=fields.height, width=fields.width,
                 encoding=fields.encoding, is_bigendian=fields.is_bigendian, step=fields.step,
                 data=fields.data)


def camera_info_msg(model: CameraModel, header: Header) -> CameraInfo:
    return CameraInfo(header=header, height=model.height, width=model.width,
                      distortion_model=model.distortion_model,
                      d=[float(v) for v in model.distortion],
                      k=[float(v) for v in model.k.ravel()],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[float(v) for v in model.p.ravel()])
