"""sensor_msgs/Image <-> numpy for the encodings jwo cameras use (ROS-free).

The PyPI cv_bridge is broken (numpy 2, 16UC1), so this is our own small codec. Decoding
takes any object with the Image fields (an rclpy message, a rosbags message, or
`ImageData`), honours row padding (`step`) and big-endian data, and returns an array that
does not share memory with the message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# encoding -> (element type, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3),
    'bgr8': (np.dtype(np.uint8), 3),
    'mono8': (np.dtype(np.uint8), 1),
    '16UC1': (np.dtype(np.uint16), 1),
    'mono16': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}


class ImageCodecError(ValueError):
    """An image whose encoding, size or data length cannot be converted."""


@dataclass(frozen=True)
class ImageData:
    """The payload fields of a sensor_msgs/Image."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: bytes


def _layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageCodecError(f'unsupported image encoding {encoding!r} '
                              f'(supported: {", ".join(ENCODINGS)})') from None


def encode(array: np.ndarray, encoding: str) -> ImageData:
    """An (H, W) or (H, W, C) array -> Image fields, little-endian, unpadded rows."""
    dtype, channels = _layout(encoding)
    array = np.asarray(array)
    expected_ndim = 2 if channels == 1 else 3
    if array.ndim == 3 and channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (channels > 1 and array.shape[2] != channels):
        raise ImageCodecError(f'{encoding} needs an array of shape (H, W'
                              f'{", %d" % channels if channels > 1 else ""}), got {array.shape}')
    if array.dtype != dtype:
        raise ImageCodecError(f'{encoding} needs dtype {dtype}, got {array.dtype}')
    little = np.ascontiguousarray(array, dtype=dtype.newbyteorder('<'))
    height, width = array.shape[:2]
    return ImageData(height, width, encoding, 0, width * channels * dtype.itemsize,
                     little.tobytes())


def decode(msg) -> np.ndarray:
    """Image fields -> a native-endian (H, W) or (H, W, C) array (a copy)."""
    dtype, channels = _layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    data = msg.data
    buffer = data if isinstance(data, (bytes, bytearray, memoryview)) else \
        np.asarray(data, dtype=np.uint8).tobytes()
    if step < row_bytes or len(buffer) < step * (height - 1) + row_bytes:
        raise ImageCodecError(f'{msg.encoding} image {width}x{height}: step {step} and '
                              f'{len(buffer)} data bytes are too small for rows of {row_bytes} bytes')
    rows = np.frombuffer(buffer, dtype=np.uint8, count=step * (height - 1) + row_bytes) \
        if height else np.zeros(0, np.uint8)
    if height:
        rows = np.lib.stride_tricks.as_strided(rows, shape=(height, row_bytes),
                                               strides=(step, 1))
    source_dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    pixels = np.ascontiguousarray(rows).view(source_dtype).astype(dtype, copy=False)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return pixels.reshape(shape).copy()
