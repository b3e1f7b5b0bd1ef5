"""The static part of the store view: floor, shelves, slots, gates and cameras as boxes and
labels in `map` (ROS-free; the node turns these into RViz markers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jwo_common.frames import quaternion_from_rpy, shelf_to_map
from jwo_common.store_config import StoreConfig

RGBA = tuple[float, float, float, float]

FLOOR_RGBA: RGBA = (0.85, 0.85, 0.82, 1.0)
SHELF_RGBA: RGBA = (0.55, 0.42, 0.30, 0.6)
SLOT_RGBA: RGBA = (0.30, 0.55, 0.85, 0.9)
ENTRY_RGBA: RGBA = (0.2, 0.8, 0.3, 0.5)
EXIT_RGBA: RGBA = (0.9, 0.3, 0.2, 0.5)
CAMERA_RGBA: RGBA = (0.1, 0.1, 0.1, 1.0)


@dataclass(frozen=True)
class Box:
    namespace: str
    centre: tuple[float, float, float]
    rotation_xyzw: tuple[float, float, float, float]
    size: tuple[float, float, float]
    rgba: RGBA


@dataclass(frozen=True)
class Label:
    namespace: str
    position: tuple[float, float, float]
    text: str
    height_m: float = 0.15


def _point(transform: np.ndarray, x: float, y: float, z: float) -> tuple[float, float, float]:
    return tuple(float(v) for v in (transform @ np.array([x, y, z, 1.0]))[:3])


def store_layout(config: StoreConfig) -> tuple[list[Box], list[Label]]:
    boxes: list[Box] = []
    labels: list[Label] = []
    floor = config.floor
    no_rotation = (0.0, 0.0, 0.0, 1.0)
    boxes.append(Box('floor', ((floor.min_x + floor.max_x) / 2, (floor.min_y + floor.max_y) / 2,
                               -0.005), no_rotation,
                     (floor.max_x - floor.min_x, floor.max_y - floor.min_y, 0.01), FLOOR_RGBA))
    for shelf in config.shelves:
        to_map = shelf_to_map(shelf)
        rotation = quaternion_from_rpy(0.0, 0.0, math.radians(shelf.yaw_deg))
        boxes.append(Box('shelves', _point(to_map, shelf.width_m / 2, shelf.depth_m / 2,
                                           shelf.height_m / 2), rotation,
                         (shelf.width_m, shelf.depth_m, shelf.height_m), SHELF_RGBA))
        labels.append(Label('shelf_labels', _point(to_map, shelf.width_m / 2, shelf.depth_m / 2,
                                                   shelf.height_m + 0.2), shelf.id, 0.25))
        for slot in shelf.slots:
            boxes.append(Box('slots', _point(to_map, slot.x_m, slot.depth_m / 2, slot.z_m),
                             rotation, (slot.width_m * 0.95, slot.depth_m, 0.02), SLOT_RGBA))
            labels.append(Label('slot_labels', _point(to_map, slot.x_m, -0.05, slot.z_m + 0.08),
                                f'{slot.id}: {config.product(slot.product).name}', 0.06))
    for gate in config.gates:
        zone = gate.zone
        boxes.append(Box('gates', ((zone.min_x + zone.max_x) / 2, (zone.min_y + zone.max_y) / 2,
                                   0.05), no_rotation,
                         (zone.max_x - zone.min_x, zone.max_y - zone.min_y, 0.1),
                         ENTRY_RGBA if gate.kind == 'entry' else EXIT_RGBA))
        labels.append(Label('gate_labels', ((zone.min_x + zone.max_x) / 2,
                                            (zone.min_y + zone.max_y) / 2, 0.4),
                            f'{gate.id} ({gate.kind})', 0.2))
    for camera in config.cameras:
        mount = camera.mount
        boxes.append(Box('cameras', (mount.x, mount.y, mount.z), quaternion_from_rpy(
            *(math.radians(a) for a in (mount.roll_deg, mount.pitch_deg, mount.yaw_deg))),
            (0.1, 0.1, 0.05), CAMERA_RGBA))
    return boxes, labels

