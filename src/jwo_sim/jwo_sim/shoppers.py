"""Shopper motion on the store floor (ROS-free): a deterministic crowd simulation.

Everyone in the store moves together, in steps of `STEP_S`. A shopper enters at the centre
of the first entry gate zone at `arrival_s`, walks at `walking_speed_mps` around the
shelves (shortest path on a visibility graph of the shelf footprints grown by
`CLEARANCE_M`) to stand in front of each visited slot (the shelf's -y side, `STAND_OFF_M`
out from the front, in `map` via `jwo_common.frames.shelf_to_map`), reaches in, dwells,
and finally leaves through the centre of the first exit gate zone.
Bodies do not pass through each other: each step a walker picks, among velocities turned
and slowed from the one it wants, the one that stays farthest from a collision in the next
`AVOID_HORIZON_S` (time to come within `BODY_GAP_M` of someone, at their present
velocity), never stepping to within `BODY_GAP_M` of anyone or `SHELF_MARGIN_M` of a shelf. Someone
held up for `SQUEEZE_AFTER_S` squeezes past others, down to `SQUEEZE_GAP_M`, so a crowded
aisle does not lock up.
Shoppers stand `PERSONAL_SPACE_M` apart at the shelves: one who finds a slot's place and
the places beside it taken waits `QUEUE_M` farther out until one is free.
Party members follow the one ahead of them on their trail, `FOLLOW_LAG_S` behind, and
wait rather than step closer than `FOLLOW_GAP_M` to a member ahead of them.

    plans = plan_shoppers(config, scenario.shoppers, until_s=scenario.duration_s)
    plans[0].reaches[0].t_press_start_s, plans[0].exit_s
    x_m, y_m = plans[0].position(np.array([12.0, 12.5]))
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from jwo_common.frames import shelf_to_map
from jwo_common.store_config import Shelf, StoreConfig

if TYPE_CHECKING:
    from jwo_sim.scenario import Shopper

CLEARANCE_M = 0.3        # walking paths keep this far from a shelf's footprint
SHELF_MARGIN_M = 0.2     # ... and nobody, even stepping aside, comes closer than this
STAND_OFF_M = 0.45       # where a shopper stands, measured from the shelf front
REACH_DELAY_S = 0.2      # from stopping to the hand touching the plate
FOLLOW_LAG_S = 0.8       # party members walk this far behind each other
FOLLOW_GAP_M = 0.6       # ... and wait rather than come closer than this to one ahead
CATCH_UP = 1.3           # a follower who waited walks this much faster to catch up
# Shoppers stand at least this far apart at the shelves (shoulder to shoulder); one who
# finds a slot's place taken stands this far to its side, still within arm's reach.
PERSONAL_SPACE_M = 0.55
QUEUE_M = 0.6            # one who finds every place taken waits this much farther out
STEP_S = 0.05            # time step of the crowd
BODY_GAP_M = 0.5         # centre to centre: two bodies (shoulders ~0.45 m) brushing past
# Someone who has made no headway this long squeezes past ("excuse me"), down to this gap.
SQUEEZE_AFTER_S = 1.5
SQUEEZE_GAP_M = 0.3
AVOID_HORIZON_S = 2.0    # walkers start to steer around a collision this far ahead
ARRIVED_M = 0.02         # this close to where one heads is there
KEEP_GOING = 0.5         # weight of a change of velocity against a detour
# A walker's choices: turned from the way it wants to go, at a share of its pace (or still).
_TURNS = np.radians([0, 20, -20, 40, -40, 60, -60, 90, -90, 120, -120, 150, -150, 180])
_PACES = np.array([1.0, 0.6, 0.3])


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
class MemberTrack:
    """Where one person is, from walking in through the entry gate (t_s[0]) to walking out
    through the exit gate (t_s[-1]; `left` is False if they were still inside when the
    simulation stopped)."""

    t_s: np.ndarray           # increasing
    xy_m: np.ndarray          # (n, 2)
    left: bool


@dataclass(frozen=True)
class ShopperPlan:
    """Where a shopper (and each party member) is over time, and what they reached for."""

    members: tuple[MemberTrack, ...]
    reaches: tuple[Reach, ...]

    @property
    def party_size(self) -> int:
        return len(self.members)

    @property
    def arrival_s(self) -> float:
        return float(self.members[0].t_s[0])

    @property
    def exit_s(self) -> float:
        """When the last party member reaches the exit (inf if someone never did)."""
        if not all(track.left for track in self.members):
            return math.inf
        return max(float(track.t_s[-1]) for track in self.members)

    def present_s(self, member: int = 0) -> tuple[float, float]:
        """When party member `member` walks in through the entry gate and out through the
        exit gate (members pass each gate one after another)."""
        track = self.members[member]
        return float(track.t_s[0]), float(track.t_s[-1])

    def position(self, t_s: np.ndarray, member: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(x_m, y_m) of party member `member` (0 = leader) at times `t_s`, clamped to the
        entry point before they arrive and the exit point after they leave."""
        track = self.members[member]
        t_s = np.asarray(t_s, dtype=float)
        return (np.interp(t_s, track.t_s, track.xy_m[:, 0]),
                np.interp(t_s, track.t_s, track.xy_m[:, 1]))


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
        return self._on_floor(*point) and not any(
            _within(self._local(to_shelf, point), width, depth, CLEARANCE_M)
            for to_shelf, width, depth in self._shelves)

    def open_floor(self, points: np.ndarray) -> np.ndarray:
        """Which of `points` (..., 2) are on the floor and at least SHELF_MARGIN_M from
        every shelf's footprint."""
        x_m, y_m = points[..., 0], points[..., 1]
        floor = self._floor
        open_ = ((x_m >= floor.min_x) & (x_m <= floor.max_x)
                 & (y_m >= floor.min_y) & (y_m <= floor.max_y))
        margin = SHELF_MARGIN_M
        for to_shelf, width, depth in self._shelves:
            along = to_shelf[0, 0] * x_m + to_shelf[0, 1] * y_m + to_shelf[0, 3]
            across = to_shelf[1, 0] * x_m + to_shelf[1, 1] * y_m + to_shelf[1, 3]
            open_ &= ~((along > -margin) & (along < width + margin)
                       & (across > -margin) & (across < depth + margin))
        return open_

    def _on_floor(self, x: float, y: float) -> bool:
        floor = self._floor
        return floor.min_x <= x <= floor.max_x and floor.min_y <= y <= floor.max_y

    def clear(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """True when the segment a-b stays out of every grown shelf footprint. From or to a
        point inside one (a walker who stepped aside), it need only keep SHELF_MARGIN_M
        from that shelf."""
        for to_shelf, width, depth in self._shelves:
            start, end = self._local(to_shelf, a), self._local(to_shelf, b)
            margin = CLEARANCE_M
            if (_within(start, width, depth, CLEARANCE_M)
                    or _within(end, width, depth, CLEARANCE_M)):
                margin = SHELF_MARGIN_M - 0.01
            if _segment_enters_box(start, end, -margin, -margin, width + margin,
                                   depth + margin):
                return False
        return True

    @staticmethod
    def _local(to_shelf: np.ndarray, point: tuple[float, float]) -> np.ndarray:
        return (to_shelf @ np.array([point[0], point[1], 0.0, 1.0]))[:2]

    def path(self, a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        """Waypoints from a to b (both included), shortest among paths via grown corners."""
        if self.clear(a, b):
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
                if other == node or not self.clear(nodes[node], nodes[other]):
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


def _within(local: np.ndarray, width: float, depth: float, margin: float) -> bool:
    """Whether a point in a shelf's frame lies inside its footprint grown by `margin`."""
    return bool(-margin < local[0] < width + margin and -margin < local[1] < depth + margin)


def _zone_centre(zone) -> tuple[float, float]:
    return ((zone.min_x + zone.max_x) / 2, (zone.min_y + zone.max_y) / 2)


def plan_shoppers(config: StoreConfig, shoppers: Sequence[Shopper],
                  until_s: float) -> list[ShopperPlan]:
    """Every shopper's plan (in the order given), all moving together until everyone has
    left or `until_s`, whichever comes first. Pure function."""
    crowd = _Crowd(config, shoppers)
    for step in range(math.ceil(until_s / STEP_S) + 1):
        if not crowd.step(step):
            break
    return crowd.plans()


@dataclass
class _Body:
    """One person in the crowd simulation. Leaders carry out their shopper's visits;
    followers walk the trail of the party member ahead of them."""

    shopper: int
    member: int
    speed_mps: float
    appear_s: float
    trail: list[tuple[float, float]] = field(default_factory=list)   # one point per step
    first_step: int = -1
    velocity: tuple[float, float] = (0.0, 0.0)
    held_up_s: float = 0.0     # how long it has been making little headway
    left: bool = False
    # Leaders only: the visits still to do, what they are doing now and where they head.
    visits_left: list[int] = field(default_factory=list)
    doing: str = 'enter'       # then 'walk' to a place, 'queue' for one, 'stand', 'exit'
    visit: int = -1
    place: tuple[float, float] | None = None     # the standing place held
    goal: tuple[float, float] | None = None
    route: list[tuple[float, float]] = field(default_factory=list)
    stand_until_s: float = 0.0

    @property
    def inside(self) -> bool:
        return self.first_step >= 0 and not self.left

    @property
    def xy(self) -> tuple[float, float]:
        return self.trail[-1]


class _Crowd:
    """Everyone's motion, one `STEP_S` at a time (see the module docstring)."""

    def __init__(self, config: StoreConfig, shoppers: Sequence[Shopper]):
        self._floor_plan = _FloorPlan(config)
        self._slots = {slot.id: (shelf, slot) for shelf in config.shelves
                       for slot in shelf.slots}
        self._entry = _zone_centre(config.gates_of_kind('entry')[0].zone)
        self._exit = _zone_centre(config.gates_of_kind('exit')[0].zone)
        self._shoppers = shoppers
        self._reaches: list[list[Reach]] = [[] for _ in shoppers]
        self._bodies: list[_Body] = []
        for index in sorted(range(len(shoppers)), key=lambda i: shoppers[i].arrival_s):
            shopper = shoppers[index]
            for member in range(shopper.party_size):
                self._bodies.append(_Body(
                    index, member, shopper.walking_speed_mps,
                    shopper.arrival_s + FOLLOW_LAG_S * member,
                    visits_left=list(range(len(shopper.visits))) if member == 0 else []))
        self._party = {(body.shopper, body.member): body for body in self._bodies}

    def step(self, step: int) -> bool:
        """Lets in whoever arrives at `step`, then moves everyone inside from where they are
        at `step` to where they are at step + 1. False once everyone has left."""
        t_s = step * STEP_S
        for body in self._bodies:
            if body.first_step < 0 and t_s >= body.appear_s and self._entry_clear(body):
                body.first_step = step
                body.trail.append(self._entry)
                if body.member == 0:
                    self._next_task(body)
        inside = [body for body in self._bodies if body.inside]
        if not inside:
            return not all(body.left for body in self._bodies)
        wanted = []
        for body in inside:
            if body.member == 0:
                self._lead(body, t_s)
            wanted.append(self._wanted_velocity(body, step))
        velocities = self._steer(inside, np.array(wanted))
        for body, want, velocity in zip(inside, wanted, velocities):
            x, y = body.xy
            pace = math.hypot(*want)
            headway = float(np.dot(want, velocity)) / pace if pace > 1e-9 else pace
            body.held_up_s = body.held_up_s + STEP_S if headway < 0.2 * pace else 0.0
            body.trail.append((x + float(velocity[0]) * STEP_S, y + float(velocity[1]) * STEP_S))
            body.velocity = (float(velocity[0]), float(velocity[1]))
            self._check_out(body)
        return True

    def plans(self) -> list[ShopperPlan]:
        members: list[list[MemberTrack]] = [[] for _ in self._shoppers]
        for body in sorted(self._bodies, key=lambda b: (b.shopper, b.member)):
            if body.first_step < 0:     # never got in: stands at the entry
                body.first_step, body.trail = math.ceil(body.appear_s / STEP_S), [self._entry]
            t_s = (body.first_step + np.arange(len(body.trail))) * STEP_S
            xy_m = np.array(body.trail)
            if body.member == 0 and t_s[0] > body.appear_s:
                # The scan happens at the arrival time: the leader is at the entry then.
                t_s = np.concatenate([[body.appear_s], t_s])
                xy_m = np.concatenate([[self._entry], xy_m])
            members[body.shopper].append(MemberTrack(t_s, xy_m, body.left))
        return [ShopperPlan(tuple(tracks), tuple(reaches))
                for tracks, reaches in zip(members, self._reaches)]

    def _entry_clear(self, body: _Body) -> bool:
        """Leaders come in at their scan; a follower waits for room at the entry."""
        return body.member == 0 or all(
            math.dist(other.xy, self._entry) >= BODY_GAP_M
            for other in self._bodies if other.inside)

    def _next_task(self, leader: _Body) -> None:
        leader.place = None
        if leader.visits_left:
            leader.visit = leader.visits_left.pop(0)
            leader.doing = 'queue'
            self._claim_place(leader)
        else:
            leader.doing = 'exit'
            self._head_to(leader, self._exit)

    def _places(self, leader: _Body) -> list[tuple[float, float]]:
        shelf, slot = self._slots[self._shoppers[leader.shopper].visits[leader.visit].slot_id]
        places = [slot_standing_point(shelf, slot.x_m + side * PERSONAL_SPACE_M)
                  for side in (0, 1, -1)]
        return [places[0]] + [p for p in places[1:] if self._floor_plan.walkable(p)]

    def _claim_place(self, leader: _Body) -> None:
        """Heads for the first free place for the visit, else queues behind the slot's."""
        places = self._places(leader)
        held = [other.place for other in self._bodies
                if other.place is not None and other is not leader]
        for place in places:
            if all(math.dist(place, other) >= PERSONAL_SPACE_M - 1e-6 for other in held):
                leader.place, leader.doing = place, 'walk'
                self._head_to(leader, place)
                return
        shelf, slot = self._slots[self._shoppers[leader.shopper].visits[leader.visit].slot_id]
        queue = shelf_to_map(shelf) @ np.array([slot.x_m, -STAND_OFF_M - QUEUE_M, 0.0, 1.0])
        wait_at = (float(queue[0]), float(queue[1]))
        if not self._floor_plan.walkable(wait_at):
            wait_at = leader.xy
        if leader.goal != wait_at:
            self._head_to(leader, wait_at)

    def _head_to(self, body: _Body, goal: tuple[float, float]) -> None:
        body.goal = goal
        body.route = self._floor_plan.path(body.xy, goal)[1:]

    def _lead(self, leader: _Body, t_s: float) -> None:
        """The leader's plan for this step: stand, queue, or walk on to where it heads."""
        if leader.doing == 'stand':
            if t_s >= leader.stand_until_s:
                self._next_task(leader)
        elif leader.doing == 'queue':
            self._claim_place(leader)
        if leader.doing == 'walk' and math.dist(leader.xy, leader.place) <= ARRIVED_M:
            self._arrive(leader, t_s)

    def _arrive(self, leader: _Body, t_s: float) -> None:
        shopper = self._shoppers[leader.shopper]
        visit = shopper.visits[leader.visit]
        shelf, _ = self._slots[visit.slot_id]
        press_start = t_s + REACH_DELAY_S
        press_end = press_start + press_duration_s(visit.quantity)
        leave = press_end + visit.dwell_s
        self._reaches[leader.shopper].append(Reach(
            leader.visit, shelf.id, visit.slot_id, *leader.xy, t_s,
            press_start, press_end, leave))
        leader.doing, leader.stand_until_s, leader.goal, leader.route = 'stand', leave, None, []

    def _wanted_velocity(self, body: _Body, step: int) -> tuple[float, float]:
        """Straight towards the next point of its route (a follower: of the trail ahead),
        at its pace, slowing to stop on the final point."""
        if body.member > 0:
            ahead = self._party[(body.shopper, body.member - 1)]
            lagged = step - round(FOLLOW_LAG_S / STEP_S) - ahead.first_step
            target = ahead.trail[min(max(lagged, 0), len(ahead.trail) - 1)]
            return _towards(body.xy, target, CATCH_UP * body.speed_mps, final=True)
        if body.doing == 'stand' or body.goal is None:
            return (0.0, 0.0)
        floor_plan = self._floor_plan
        if body.route and not floor_plan.clear(body.xy, body.route[0]):
            body.route = floor_plan.path(body.xy, body.goal)[1:]
        while len(body.route) > 1 and floor_plan.clear(body.xy, body.route[1]):
            body.route.pop(0)
        if not body.route:
            return (0.0, 0.0)
        return _towards(body.xy, body.route[0], body.speed_mps, final=len(body.route) == 1)

    def _check_out(self, body: _Body) -> None:
        at_exit = math.dist(body.xy, self._exit) <= ARRIVED_M
        if body.member == 0:
            body.left = body.doing == 'exit' and at_exit
        else:
            body.left = at_exit and self._party[(body.shopper, body.member - 1)].left

    def _steer(self, inside: list[_Body], wanted: np.ndarray) -> np.ndarray:
        """Each body's velocity for this step (see the module docstring). Bodies that want
        to stay put stay put; the others choose among turned and slowed velocities."""
        here = np.array([body.xy for body in inside])
        moving = np.array([body.velocity for body in inside])
        chosen = np.zeros_like(wanted)
        movers = np.flatnonzero(np.hypot(*wanted.T) > 1e-9)
        if movers.size == 0:
            return chosen
        pace = np.hypot(*wanted[movers].T)
        heading = np.arctan2(wanted[movers, 1], wanted[movers, 0])
        angles = heading[:, None] + _TURNS[None, :]                          # (m, turns)
        options = (pace[:, None, None, None] * _PACES[None, None, :, None]
                   * np.stack([np.cos(angles), np.sin(angles)], axis=-1)[:, :, None, :])
        options = np.concatenate([options.reshape(len(movers), -1, 2),
                                  np.zeros((len(movers), 1, 2))], axis=1)   # (m, k, 2)
        landing = here[movers, None, :] + options * STEP_S
        allowed = self._floor_plan.open_floor(landing)
        # Everyone else, where they will be after this step at their present velocity.
        apart_now = here[None, :, :] - here[movers, None, :]                 # (m, n, 2)
        distance_now = np.hypot(*np.moveaxis(apart_now, -1, 0))
        distance_now[np.arange(len(movers)), movers] = 1e9     # oneself
        them_next = here + moving * STEP_S
        apart_next = them_next[None, None, :, :] - landing[:, :, None, :]    # (m, k, n, 2)
        distance_next = np.hypot(*np.moveaxis(apart_next, -1, 0))
        distance_next[np.arange(len(movers)), :, movers] = np.inf
        closing = distance_next < distance_now[:, None, :] - 1e-9
        gap = np.where([inside[mover].held_up_s >= SQUEEZE_AFTER_S for mover in movers],
                       SQUEEZE_GAP_M, BODY_GAP_M)[:, None, None]
        allowed &= ~((distance_next < gap) & closing).any(axis=2)
        party_index = {(body.shopper, body.member): i for i, body in enumerate(inside)}
        for row, mover in enumerate(movers):
            body = inside[mover]
            for member in range(body.member):
                other = party_index.get((body.shopper, member))
                if other is not None:
                    allowed[row] &= ~((distance_next[row, :, other] < FOLLOW_GAP_M)
                                      & closing[row, :, other])
        # Time until each option brings the mover within its gap of each other body.
        relative = options[:, :, None, :] - moving[None, None, :, :]         # (m, k, n, 2)
        a = np.sum(relative ** 2, axis=-1)
        b = np.sum(apart_now[:, None, :, :] * relative, axis=-1)
        c = distance_now[:, None, :] ** 2 - gap ** 2
        discriminant = b ** 2 - a * c
        with np.errstate(divide='ignore', invalid='ignore'):
            meet_s = np.where((b > 0) & (discriminant > 0),
                              (b - np.sqrt(np.maximum(discriminant, 0))) / a, np.inf)
        meet_s = np.where(c < 0, np.where(b > 0, 0.0, np.inf), meet_s)
        danger = np.clip(1 - meet_s / AVOID_HORIZON_S, 0, 1).max(axis=2)
        # People keep their way and pace rather than weave step by step.
        cost = (np.hypot(*np.moveaxis(options - wanted[movers, None, :], -1, 0))
                + KEEP_GOING * np.hypot(*np.moveaxis(options - moving[movers, None, :], -1, 0))
                ) / pace[:, None] + danger
        cost[~allowed] = np.inf
        cost[:, -1] = np.minimum(cost[:, -1], 1e9)     # standing still is always allowed
        chosen[movers] = options[np.arange(len(movers)), np.argmin(cost, axis=1)]
        # The ones ahead may have turned: a follower whose step now takes it too close to
        # where they step waits instead (in party order, so the ones behind see it wait).
        for mover in sorted(movers, key=lambda i: inside[i].member):
            body = inside[mover]
            landing_here = here[mover] + chosen[mover] * STEP_S
            for member in range(body.member):
                other = party_index.get((body.shopper, member))
                if other is None:
                    continue
                there = here[other] + chosen[other] * STEP_S
                gap = math.dist(landing_here, there)
                if gap < FOLLOW_GAP_M and gap < math.dist(here[mover], there):
                    chosen[mover] = 0.0
                    break
        return chosen


def _towards(start: tuple[float, float], target: tuple[float, float], speed_mps: float,
             final: bool) -> tuple[float, float]:
    dx, dy = target[0] - start[0], target[1] - start[1]
    distance = math.hypot(dx, dy)
    if distance < 1e-9:
        return (0.0, 0.0)
    pace = min(speed_mps, distance / STEP_S) if final else speed_mps
    return (dx / distance * pace, dy / distance * pace)
