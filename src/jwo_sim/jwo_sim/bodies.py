"""Where every body is at a moment, and its shape as ellipsoids for the cameras (ROS-free).

A person is six ellipsoids sized from their `Body` (height, shoulder width): legs, torso,
head and two arms. They face where they walk, and face the shelf while standing at a
slot; the leader's arm reaches from the shoulder into the slot around each press (party
members do not reach). Ellipsoids are in `map`:

    poses = body_poses(result, t_s=12.3)
    shapes = body_ellipsoids(poses)       # Ellipsoids: centres, to_unit, rgb

An ellipsoid is the set of points p with |to_unit @ (p - centre)| <= 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jwo_common.frames import shelf_to_map
from jwo_sim.scenario import Body
from jwo_sim.simulation import SimulationResult

REACH_MOVE_S = 0.35          # the hand travels from the side to the slot (and back) this long
HAND_INTO_SLOT_M = 0.12      # how far behind the shelf front the fingertips go
HAIR_RGB = (45, 35, 30)
LEGS_RGB = (40, 42, 60)


@dataclass(frozen=True)
class BodyPose:
    """One person at one moment: standing point and heading in `map` (heading 0 = facing
    +x), and the point the right hand reaches for (None: arms at the sides)."""

    account_token: str
    member: int
    x_m: float
    y_m: float
    heading_rad: float
    body: Body
    hand_target_m: tuple[float, float, float] | None


@dataclass(frozen=True)
class Ellipsoids:
    centres: np.ndarray      # (n, 3) map
    to_unit: np.ndarray      # (n, 3, 3): map offsets from the centre -> unit sphere
    rgb: np.ndarray          # (n, 3) uint8

    @property
    def radii_m(self) -> np.ndarray:
        """Radius of a sphere around each ellipsoid (its longest semi-axis)."""
        return 1.0 / np.linalg.svd(self.to_unit, compute_uv=False)[:, -1]


def _heading(plan, t_s: float, member: int, fallback: float) -> float:
    ahead = np.ravel(plan.position(np.array([t_s + 0.25]), member))
    behind = np.ravel(plan.position(np.array([t_s - 0.25]), member))
    delta = ahead - behind
    if np.hypot(*delta) < 0.05:
        return fallback
    return math.atan2(delta[1], delta[0])


def body_poses(result: SimulationResult, t_s: float) -> list[BodyPose]:
    """Everyone inside the store at sim time `t_s`."""
    config = result.config
    slots = {slot.id: (shelf, slot) for shelf in config.shelves for slot in shelf.slots}
    poses = []
    for shopper, plan in zip(result.scenario.shoppers, result.plans):
        reach = next((r for r in plan.reaches if r.t_arrive_s <= t_s <= r.t_leave_s), None)
        shelf_facing = None
        hand_target = None
        if reach is not None:
            shelf, slot = slots[reach.slot_id]
            shelf_facing = math.radians(shelf.yaw_deg) + math.pi / 2
            extension = float(np.clip(min(t_s - (reach.t_press_start_s - REACH_MOVE_S),
                                          reach.t_press_end_s + REACH_MOVE_S - t_s)
                                      / REACH_MOVE_S, 0.0, 1.0))
            if extension > 0:
                target = shelf_to_map(shelf) @ np.array(
                    [slot.x_m, HAND_INTO_SLOT_M, slot.z_m + 0.08, 1.0])
                hand_target = (tuple(float(v) for v in target[:3]), extension)
        for member in range(shopper.party_size):
            enter_s, leave_s = plan.present_s(member)
            if not enter_s <= t_s <= leave_s:
                continue
            x_m, y_m = (float(v[0]) for v in plan.position(np.array([t_s]), member))
            if member == 0 and shelf_facing is not None:
                heading = shelf_facing
            else:
                leader = np.ravel(plan.position(np.array([t_s])))
                towards_leader = math.atan2(leader[1] - y_m, leader[0] - x_m)
                heading = _heading(plan, t_s, member, towards_leader if member else 0.0)
            target = None
            if member == 0 and hand_target is not None:
                target = _hand_position(x_m, y_m, heading, shopper.body(0), *hand_target)
            poses.append(BodyPose(shopper.account_token, member, x_m, y_m, heading,
                                  shopper.body(member), target))
    return poses


def _shoulder(x_m: float, y_m: float, heading: float, body: Body, side: float) -> np.ndarray:
    """Right (side=-1) or left (+1) shoulder joint in map."""
    half = body.shoulder_width_m / 2 - 0.05
    return np.array([x_m - side * half * math.sin(heading),
                     y_m + side * half * math.cos(heading), 0.82 * body.height_m])


def _hand_position(x_m, y_m, heading, body, target, extension) -> tuple[float, float, float]:
    """The right hand `extension` (0..1) of the way from hanging down to `target`, no
    further from the shoulder than the arm is long."""
    shoulder = _shoulder(x_m, y_m, heading, body, -1.0)
    rest = _hand_at_rest(shoulder, body)
    hand = rest + extension * (np.asarray(target) - rest)
    offset = hand - shoulder
    arm = 0.44 * body.height_m
    if np.linalg.norm(offset) > arm:
        hand = shoulder + offset * (arm / np.linalg.norm(offset))
    return tuple(float(v) for v in hand)


def _hand_at_rest(shoulder: np.ndarray, body: Body) -> np.ndarray:
    return shoulder - np.array([0.0, 0.0, 0.40 * body.height_m])


def _rotation_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _aligned(semi_axes: tuple[float, float, float], rotation: np.ndarray) -> np.ndarray:
    """to_unit of an ellipsoid with these semi-axes along the columns of `rotation`."""
    return np.diag(1.0 / np.asarray(semi_axes)) @ rotation.T


def _segment(start: np.ndarray, end: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Centre and to_unit of a limb from `start` to `end`, `radius` thick."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    along = axis / length
    helper = np.array([0.0, 0.0, 1.0]) if abs(along[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    side = np.cross(along, helper)
    side /= np.linalg.norm(side)
    rotation = np.stack([along, side, np.cross(along, side)], axis=1)
    return (start + end) / 2, _aligned((length / 2 + radius / 2, radius, radius), rotation)


def body_ellipsoids(poses: list[BodyPose]) -> Ellipsoids:
    """Six ellipsoids per pose, in `map`."""
    centres, to_unit, rgb = [], [], []
    for pose in poses:
        body, height = pose.body, pose.body.height_m
        heading = _rotation_z(pose.heading_rad)
        base = np.array([pose.x_m, pose.y_m, 0.0])
        shirt = tuple(body.shirt_rgb)
        # (centre height, semi-axes forward/side/up, colour)
        for z_m, semi, colour in ((0.26 * height, (0.12, 0.36 * body.shoulder_width_m,
                                                   0.26 * height), LEGS_RGB),
                                  (0.665 * height, (0.13, body.shoulder_width_m / 2,
                                                    0.165 * height), shirt),
                                  (height - 0.115, (0.10, 0.08, 0.115), HAIR_RGB)):
            centres.append(base + np.array([0.0, 0.0, z_m]))
            to_unit.append(_aligned(semi, heading))
            rgb.append(colour)
        for side in (-1.0, 1.0):
            shoulder = _shoulder(pose.x_m, pose.y_m, pose.heading_rad, body, side)
            if side < 0 and pose.hand_target_m is not None:
                hand = np.asarray(pose.hand_target_m)
            else:
                hand = _hand_at_rest(shoulder, body) + heading @ np.array([0.03, 0.05 * side,
                                                                           0.0])
            centre, unit = _segment(shoulder, hand, 0.05)
            centres.append(centre)
            to_unit.append(unit)
            rgb.append(shirt)
    if not centres:
        return Ellipsoids(np.zeros((0, 3)), np.zeros((0, 3, 3)), np.zeros((0, 3), np.uint8))
    return Ellipsoids(np.array(centres), np.array(to_unit), np.array(rgb, dtype=np.uint8))
