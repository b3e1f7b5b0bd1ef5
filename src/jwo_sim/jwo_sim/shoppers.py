"""Deterministic shopper motion on the store floor (ROS-free).

A shopper enters at the centre of the first entry gate zone at `arrival_s`, walks at
`walking_speed_mps` around the shelves (shortest path on a visibility graph of the shelf
footprints grown by `CLEARANCE_M`) to stand in front of each visited slot (the shelf's -y
side, `STAND_OFF_M` out from the front, in `map` via `jwo_common.frames.shelf_to_map`),
reaches in, dwells, and finally leaves through the centre of the first exit gate zone.
Shoppers keep `PERSONAL_SPACE_M` from anyone already standing at a shelf (planned in
arrival order): a later one stands beside them, or waits where they are until a place is free.
Party members follow the leader along the same path, `FOLLOW_LAG_S` behind while walking,
and wait rather than step closer than `FOLLOW_GAP_M` to a member ahead of them, so two
bodies do not stand in one spot (they may still brush past when the leader walks back
through them).

    plans = plan_shoppers(config, scenario.shoppers)
    plans[0].reaches[0].t_press_start_s, plans[0].exit_s
    x_m, y_m = plans[0].position(np.array([12.0, 12.5]))
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jwo_common.frames import shelf_to_map
from jwo_common.store_config import Shelf, StoreConfig

if TYPE_CHECKING:
    from jwo_sim.scenario import Shopper

CLEARANCE_M = 0.3        # walkers keep this far from a shelf's footprint
STAND_OFF_M = 0.45       # where a shopper stands, measured from the shelf front
REACH_DELAY_S = 0.2      # from stopping to the hand touching the plate
FOLLOW_LAG_S = 0.8       # party members walk this far behind each other
FOLLOW_GAP_M = 0.6       # ... and wait rather than come closer than this to one ahead
FOLLOW_STEP_S = 0.05     # time step of the followers' walk
CATCH_UP = 1.3           # a follower who waited walks this much faster to catch up
# Shoppers stand at least this far apart at the shelves (shoulder to shoulder); one who
# finds a slot's place taken stands this far to its side, still within arm's reach.
PERSONAL_SPACE_M = 0.55


def press_duration_s(quantity: int) -> float:
    """How long the hand rests on the plate: longer when taking several units."""
    return min(0.4 + 0.15 * quantity, 1.0)


@dataclass(frozen=True)
class Reach:
    """One visit carried out: the shopper stands at (x_m, y_m) from t_arrive_s; the hand
    presses the plate from t_press_start_s to t_press_end_s (units move at the middle)."""

    visit_index: int
    shelf_id: str
    slot_id: str
    x_m: float
    y_m: float
    t_arrive_s: float
    t_press_start_s: float
    t_press_end_s: float
    t_leave_s: float

    @property
    def t_change_s(self) -> float:
        return (self.t_press_start_s + self.t_press_end_s) / 2


@dataclass(frozen=True)
class ShopperPlan:
    """Where a shopper (and each party member) is over time: the leader moves along
    piecewise-linear keyframes; followers walk the same path (see `position`)."""

    keyframe_t_s: np.ndarray      # non-decreasing
    keyframe_xy_m: np.ndarray     # (n, 2)
    reaches: tuple[Reach, ...]
    party_size: int
    walking_speed_mps: float = 1.2

    @property
    def arrival_s(self) -> float:
        return float(self.keyframe_t_s[0])

    @property
    def exit_s(self) -> float:
        """When the last party member reaches the exit."""
        return max(self.present_s(member)[1] for member in range(self.party_size))

    def present_s(self, member: int = 0) -> tuple[float, float]:
        """When party member `member` walks in through the entry gate and out through the
        exit gate (members pass each gate one after another)."""
        if member == 0:
            return float(self.keyframe_t_s[0]), float(self.keyframe_t_s[-1])
        t_s, _ = self._follower_tracks[member - 1]
        return float(t_s[0]), float(t_s[-1])

    def path_length_m(self, t_s: np.ndarray, member: int = 0) -> np.ndarray:
        """Distance walked along the leader's path by member `member` at times `t_s`."""
        if member == 0:
            return np.interp(t_s, self.keyframe_t_s, self._keyframe_path_m)
        track_t_s, track_m = self._follower_tracks[member - 1]
        return np.interp(t_s, track_t_s, track_m)

    def position(self, t_s: np.ndarray, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(x_m, y_m) of party member `member` (0 = leader) at times `t_s`, clamped to the
        entry point before they arrive and the exit point after they leave."""
        path_m = self.path_length_m(np.asarray(t_s, dtype=float), member)
        distinct_m, first = self._distinct_path_points
        return (np.interp(path_m, distinct_m, self.keyframe_xy_m[first, 0]),
                np.interp(path_m, distinct_m, self.keyframe_xy_m[first, 1]))

    @functools.cached_property
    def _keyframe_path_m(self) -> np.ndarray:
        steps = np.hypot(*np.diff(self.keyframe_xy_m, axis=0).T)
        return np.concatenate([[0.0], np.cumsum(steps)])

    @functools.cached_property
    def _distinct_path_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Strictly increasing path lengths and their keyframe indices (standing still
        repeats a path length at the same point)."""
        return np.unique(self._keyframe_path_m, return_index=True)

    @functools.cached_property
    def _follower_tracks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(t_s, path length) of each follower, stepped in time: a follower walks
        FOLLOW_LAG_S behind on the leader's path, never forward to within FOLLOW_GAP_M
        of someone ahead of them in the party, and catches up a little faster after
        waiting."""
        total_m = float(self._keyframe_path_m[-1])
        leader_out_s = float(self.keyframe_t_s[-1])
        distinct_m, first = self._distinct_path_points
        tracks: list[tuple[np.ndarray, np.ndarray]] = []
        for member in range(1, self.party_size):
            t_s = float(self.keyframe_t_s[0]) + FOLLOW_LAG_S * member
            horizon = np.arange(t_s, leader_out_s + 120.0, FOLLOW_STEP_S)
            ahead = [np.stack(self.position(horizon), axis=1)] + [
                np.stack([np.interp(np.interp(horizon, track_t, track_m), distinct_m,
                                    self.keyframe_xy_m[first, axis]) for axis in (0, 1)], axis=1)
                for track_t, track_m in tracks]
            lagging = np.interp(horizon - FOLLOW_LAG_S * member, self.keyframe_t_s,
                                self._keyframe_path_m)
            walked = [0.0]
            max_step = CATCH_UP * self.walking_speed_mps * FOLLOW_STEP_S
            for step in range(1, len(horizon)):
                here = walked[-1]
                wanted = min(max(lagging[step] - here, 0.0), max_step)
                if wanted > 0 and horizon[step] < leader_out_s:
                    candidate = here + wanted
                    point = (np.interp(candidate, distinct_m, self.keyframe_xy_m[first, 0]),
                             np.interp(candidate, distinct_m, self.keyframe_xy_m[first, 1]))
                    current = (np.interp(here, distinct_m, self.keyframe_xy_m[first, 0]),
                               np.interp(here, distinct_m, self.keyframe_xy_m[first, 1]))
                    for others in ahead:
                        other = others[step]
                        # Stepping closer to someone already too close is not allowed.
                        if (math.dist(point, other) < FOLLOW_GAP_M
                                and math.dist(point, other) < math.dist(current, other)):
                            wanted = 0.0
                            break
                walked.append(here + wanted)
                if walked[-1] >= total_m - 1e-9:
                    break
            tracks.append((horizon[:len(walked)], np.array(walked)))
        return tracks


def slot_standing_point(shelf: Shelf, slot_x_m: float) -> tuple[float, float]:
    """Where a shopper stands to reach a slot at `slot_x_m` along the shelf front, in map."""
    point = shelf_to_map(shelf) @ np.array([slot_x_m, -STAND_OFF_M, 0.0, 1.0])
    return float(point[0]), float(point[1])


class _FloorPlan:
    """Shortest walking paths between points, around shelf footprints."""

    def __init__(self, config: StoreConfig):
        self._floor = config.floor
        self._shelves = [(np.linalg.inv(shelf_to_map(shelf)), shelf.width_m, shelf.depth_m)
                         for shelf in config.shelves]
        corner_offset = CLEARANCE_M + 0.05
        self._corners = []
        for shelf in config.shelves:
            to_map = shelf_to_map(shelf)
            for x in (-corner_offset, shelf.width_m + corner_offset):
                for y in (-corner_offset, shelf.depth_m + corner_offset):
                    point = to_map @ np.array([x, y, 0.0, 1.0])
                    if self._on_floor(point[0], point[1]):
                        self._corners.append((float(point[0]), float(point[1])))

    def walkable(self, point: tuple[float, float]) -> bool:
        """On the floor and clear of every grown shelf footprint."""
        return self._on_floor(*point) and self._clear(point, point)

    def _on_floor(self, x: float, y: float) -> bool:
        floor = self._floor
        return floor.min_x <= x <= floor.max_x and floor.min_y <= y <= floor.max_y

    def _clear(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """True when the segment a-b stays out of every grown shelf footprint."""
        for to_shelf, width, depth in self._shelves:
            start = to_shelf @ np.array([a[0], a[1], 0.0, 1.0])
            end = to_shelf @ np.array([b[0], b[1], 0.0, 1.0])
            if _segment_enters_box(start[:2], end[:2], -CLEARANCE_M, -CLEARANCE_M,
                                   width + CLEARANCE_M, depth + CLEARANCE_M):
                return False
        return True

    def path(self, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        """Waypoints from a to b (both included), shortest among paths via grown corners."""
        if self._clear(a, b):
            return [a, b]
        nodes = [a, b, *self._corners]
        best = {0: 0.0}
        previous: dict[int, int] = {}
        queue = [(0.0, 0)]
        while queue:
            distance, node = heapq.heappop(queue)
            if node == 1:
                break
            if distance > best.get(node, math.inf):
                continue
            for other in range(1, len(nodes)):
                if other == node or not self._clear(nodes[node], nodes[other]):
                    continue
                candidate = distance + math.dist(nodes[node], nodes[other])
                if candidate < best.get(other, math.inf) - 1e-12:
                    best[other] = candidate
                    previous[other] = node
                    heapq.heappush(queue, (candidate, other))
        if 1 not in previous:
            raise ValueError(f'no walkable path from {a} to {b} around the shelves')
        route = [1]
        while route[-1] != 0:
            route.append(previous[route[-1]])
        return [nodes[i] for i in reversed(route)]


def _segment_enters_box(start: np.ndarray, end: np.ndarray, min_x: float, min_y: float,
                        max_x: float, max_y: float) -> bool:
    """Whether the segment passes through the open box (Liang-Barsky clipping)."""
    t_low, t_high = 0.0, 1.0
    delta = end - start
    for axis, low, high in ((0, min_x, max_x), (1, min_y, max_y)):
        if abs(delta[axis]) < 1e-12:
            if not low < start[axis] < high:
                return False
            continue
        t0 = (low - start[axis]) / delta[axis]
        t1 = (high - start[axis]) / delta[axis]
        t_low, t_high = max(t_low, min(t0, t1)), min(t_high, max(t0, t1))
    return t_high - t_low > 1e-9


def _zone_centre(zone) -> tuple[float, float]:
    return ((zone.min_x + zone.max_x) / 2, (zone.min_y + zone.max_y) / 2)


def plan_shoppers(config: StoreConfig, shoppers: Sequence[Shopper]) -> list[ShopperPlan]:
    """Every shopper's plan (in the order given), each planned in arrival order to keep
    clear of the places where earlier ones stand."""
    plans: dict[int, ShopperPlan] = {}
    standing: list[Reach] = []
    for index in sorted(range(len(shoppers)), key=lambda i: shoppers[i].arrival_s):
        plans[index] = plan_shopper(config, shoppers[index], standing)
        standing.extend(plans[index].reaches)
    return [plans[index] for index in range(len(shoppers))]


def plan_shopper(config: StoreConfig, shopper: Shopper,
                 standing: Sequence[Reach] = ()) -> ShopperPlan:
    """The shopper's whole visit: entry, every reach in order, exit, keeping clear of where
    others stand (`standing`: their reaches). Pure function."""
    floor_plan = _FloorPlan(config)
    slots = {slot.id: (shelf, slot) for shelf in config.shelves for slot in shelf.slots}
    position = _zone_centre(config.gates_of_kind('entry')[0].zone)
    t_s = shopper.arrival_s
    times, points = [t_s], [position]
    reaches = []

    def walk_to(goal: tuple[float, float]) -> None:
        nonlocal t_s, position
        for waypoint in floor_plan.path(position, goal)[1:]:
            t_s += math.dist(position, waypoint) / shopper.walking_speed_mps
            position = waypoint
            times.append(t_s)
            points.append(position)

    for index, visit in enumerate(shopper.visits):
        shelf, slot = slots[visit.slot_id]
        press_s = press_duration_s(visit.quantity)
        spot, depart_s = _free_place(floor_plan, shelf, slot.x_m, position, t_s,
                                     shopper.walking_speed_mps,
                                     REACH_DELAY_S + press_s + visit.dwell_s, standing)
        if depart_s > t_s:
            t_s = depart_s
            times.append(t_s)
            points.append(position)
        walk_to(spot)
        press_start = t_s + REACH_DELAY_S
        press_end = press_start + press_s
        leave = press_end + visit.dwell_s
        reaches.append(Reach(index, shelf.id, slot.id, position[0], position[1], t_s,
                             press_start, press_end, leave))
        t_s = leave
        times.append(t_s)
        points.append(position)
    walk_to(_zone_centre(config.gates_of_kind('exit')[0].zone))
    return ShopperPlan(np.array(times), np.array(points), tuple(reaches), shopper.party_size,
                       shopper.walking_speed_mps)


def _free_place(floor_plan: _FloorPlan, shelf: Shelf, slot_x_m: float,
                start: tuple[float, float], start_s: float, speed_mps: float, stay_s: float,
                standing: Sequence[Reach]) -> tuple[tuple[float, float], float]:
    """Where to stand for a slot, and when to set off from `start` to get there: in front
    of the slot, else beside that place, at the first moment one of them is free of others
    for `stay_s` (waiting at `start` until then)."""
    places = [slot_standing_point(shelf, slot_x_m + side * PERSONAL_SPACE_M)
              for side in (0, 1, -1)]
    places = [places[0]] + [p for p in places[1:] if floor_plan.walkable(p)]
    walk_s = [sum(math.dist(a, b) for a, b in itertools.pairwise(floor_plan.path(start, p)))
              / speed_mps for p in places]
    nearby = [[r for r in standing if math.dist(p, (r.x_m, r.y_m)) < PERSONAL_SPACE_M - 1e-6]
              for p in places]
    depart_s = start_s
    for _ in range(len(standing) + 1):
        busy_until = []
        for place, walk, others in zip(places, walk_s, nearby):
            arrive_s = depart_s + walk
            clashes = [r.t_leave_s for r in others
                       if r.t_arrive_s < arrive_s + stay_s and arrive_s < r.t_leave_s]
            if not clashes:
                return place, depart_s
            busy_until.append(max(clashes) - walk)
        depart_s = max(depart_s, min(busy_until))
    return places[0], depart_s
