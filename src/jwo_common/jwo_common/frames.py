"""Frame names and the static transforms of a store (ROS-free).

REP 103/105: `map` is the store floor (x east, y north, z up, metres). A camera's mount
pose places `<id>_link` (x forward, y left, z up) in `map`; its images are in
`<id>_optical_frame` (z forward, x right, y down). A shelf's `<id>_link` sits at its
front-left floor corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jwo_common.store_config import Camera, Shelf, StoreConfig

MAP_FRAME = 'map'

# Rotation from a camera's link to its optical frame (roll -90 deg, then yaw -90 deg).
OPTICAL_FROM_LINK_XYZW = (-0.5, 0.5, -0.5, 0.5)


def camera_link_frame(camera_id: str) -> str:
    return f'{camera_id}_link'


def camera_optical_frame(camera_id: str) -> str:
    return f'{camera_id}_optical_frame'


def shelf_frame(shelf_id: str) -> str:
    return f'{shelf_id}_link'


def shopper_frame(track_id: str) -> str:
    return f'shopper_{track_id}'


@dataclass(frozen=True)
class StaticTransform:
    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation_xyzw: tuple[float, float, float, float]


def quaternion_from_rpy(roll: float, pitch: float, yaw: float) -> tuple[float, float, float, float]:
    """Fixed-axis roll, pitch, yaw in radians (as tf2 and URDF use them) -> (x, y, z, w)."""
    cr, sr = math.cos(roll / 2), math.sin(roll / 2)
    cp, sp = math.cos(pitch / 2), math.sin(pitch / 2)
    cy, sy = math.cos(yaw / 2), math.sin(yaw / 2)
    return (sr * cp * cy - cr * sp * sy,
            cr * sp * cy + sr * cp * sy,
            cr * cp * sy - sr * sp * cy,
            cr * cp * cy + sr * sp * sy)


def rotation_matrix(xyzw: tuple[float, float, float, float]) -> np.ndarray:
    x, y, z, w = xyzw
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def camera_transforms(camera: Camera) -> list[StaticTransform]:
    mount = camera.mount
    link = StaticTransform(
        MAP_FRAME, camera_link_frame(camera.id), (mount.x, mount.y, mount.z),
        quaternion_from_rpy(*(math.radians(a) for a in
                              (mount.roll_deg, mount.pitch_deg, mount.yaw_deg))))
    optical = StaticTransform(camera_link_frame(camera.id), camera_optical_frame(camera.id),
                              (0.0, 0.0, 0.0), OPTICAL_FROM_LINK_XYZW)
    return [link, optical]


def shelf_transform(shelf: Shelf) -> StaticTransform:
    return StaticTransform(MAP_FRAME, shelf_frame(shelf.id), (shelf.x, shelf.y, 0.0),
                           quaternion_from_rpy(0.0, 0.0, math.radians(shelf.yaw_deg)))


def optical_to_map(camera: Camera) -> np.ndarray:
    """4x4 homogeneous transform taking points in the optical frame to `map`."""
    link, optical = camera_transforms(camera)
    result = np.eye(4)
    result[:3, :3] = rotation_matrix(link.rotation_xyzw) @ rotation_matrix(optical.rotation_xyzw)
    result[:3, 3] = link.translation
    return result


def shelf_to_map(shelf: Shelf) -> np.ndarray:
    """4x4 homogeneous transform taking points in the shelf frame to `map`."""
    transform = shelf_transform(shelf)
    result = np.eye(4)
    result[:3, :3] = rotation_matrix(transform.rotation_xyzw)
    result[:3, 3] = transform.translation
    return result


def store_static_transforms(config: StoreConfig) -> list[StaticTransform]:
    return ([t for camera in config.cameras for t in camera_transforms(camera)]
            + [shelf_transform(shelf) for shelf in config.shelves])
