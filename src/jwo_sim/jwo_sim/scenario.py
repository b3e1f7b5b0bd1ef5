"""Seeded store scenarios (ROS-free): who comes in, when, and what they take or put back.

A scenario sits on top of a store config and is everything the simulator needs besides the
seed-driven sensor noise: shoppers (account token, arrival, walking speed, party size), their
visits to slots in order, the stock on each slot at the start, and fault knobs for the
sensors. Scenarios are YAML files (`load_scenario`, `save_scenario`) or come from
`generate_scenario(config, seed, n_shoppers, duration_s, difficulty)`.

Every error is a `ScenarioError` whose message is one line: `file: field: problem`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from jwo_common.store_config import StoreConfig

Difficulty = Literal['easy', 'medium', 'hard']
PositiveFloat = Annotated[float, Field(gt=0)]
# 2026-01-01T00:00:00Z: sim time 0 maps here, so stamps look like real sensor time.
DEFAULT_START_UNIX_S = 1767225600


class ScenarioError(ValueError):
    """A scenario that cannot be used; the message is one line: file: field: problem."""

    def __init__(self, message: str):
        super().__init__(re.sub(r'[\x00-\x1f\x7f]', lambda m: repr(m.group())[1:-1], message))


class _Model(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)


class Visit(_Model):
    """One reach into a slot. A pick takes `quantity` units of the slot's product; a put
    returns `quantity` units of `sku` (default: the slot's product) to the slot, so a put of
    another slot's product is a misplaced put-back."""

    slot_id: str
    kind: Literal['pick', 'put']
    quantity: Annotated[StrictInt, Field(ge=1)] = 1
    sku: str | None = None
    dwell_s: Annotated[float, Field(ge=0)] = 1.0    # standing at the shelf after the reach


class Body(_Model):
    """What the cameras see of one person: an upright body of this height and shoulder
    width, wearing a top of this colour."""

    height_m: Annotated[float, Field(ge=1.4, le=2.1)] = 1.75
    shoulder_width_m: Annotated[float, Field(ge=0.3, le=0.6)] = 0.45
    shirt_rgb: tuple[Annotated[StrictInt, Field(ge=0, le=255)], ...] = (70, 90, 140)

    @model_validator(mode='after')
    def _three_channels(self) -> Body:
        if len(self.shirt_rgb) != 3:
            raise ValueError(f'shirt_rgb: expected 3 values, got {len(self.shirt_rgb)}')
        return self


class Shopper(_Model):
    account_token: Annotated[str, Field(min_length=1)]
    arrival_s: Annotated[float, Field(ge=0)]        # entry scan time, sim seconds
    walking_speed_mps: Annotated[float, Field(ge=0.3, le=2.5)] = 1.2
    party_size: Annotated[StrictInt, Field(ge=1, le=6)] = 1
    visits: list[Visit] = Field(default_factory=list)
    bodies: list[Body] = Field(default_factory=list)   # one per party member, or none: default

    @model_validator(mode='after')
    def _a_body_per_member(self) -> Shopper:
        if self.bodies and len(self.bodies) != self.party_size:
            raise ValueError(f'bodies: expected {self.party_size} (party_size) or none, '
                             f'got {len(self.bodies)}')
        return self

    def body(self, member: int) -> Body:
        return self.bodies[member] if self.bodies else Body()


class Faults(_Model):
    noise_g: Annotated[float, Field(ge=0)] = 2.0          # gaussian, per sample
    drift_g_per_min: float = 0.0                          # slow creep of each plate
    # Per sample and plate: the chance that a burst of NaN readings starts there.
    dropout_probability: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Per camera frame: the chance it never arrives.
    camera_frame_drop_probability: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Stereo depth error grows with the square of range: sigma = this x (range in m)^2,
    # spatially correlated over a few pixels like a stereo matcher's window.
    depth_noise_mm_at_1m: Annotated[float, Field(ge=0)] = 0.0
    depth_hole_probability: Annotated[float, Field(ge=0, le=1)] = 0.0   # per pixel: 0 = no depth
    rfid_miss_probability: Annotated[float, Field(ge=0, le=1)] = 0.0    # per tag at the exit


class Occluder(_Model):
    """A horizontal panel hanging under the ceiling (sign, light fitting, duct): it hides
    what is below it from the cameras above. Centre (x_m, y_m) in map, bottom at z_m."""

    x_m: float
    y_m: float
    z_m: Annotated[float, Field(ge=2.1)]
    size_x_m: PositiveFloat
    size_y_m: PositiveFloat
    thickness_m: PositiveFloat = 0.05


class Scenario(_Model):
    store_config: str                     # path of the store YAML, as given to the generator
    seed: Annotated[StrictInt, Field(ge=0)]
    duration_s: PositiveFloat
    start_unix_s: Annotated[StrictInt, Field(ge=0)] = DEFAULT_START_UNIX_S
    initial_stock: dict[str, Annotated[StrictInt, Field(ge=0)]]   # slot id -> units on it
    shoppers: list[Shopper]
    faults: Faults = Faults()
    occluders: list[Occluder] = Field(default_factory=list)
    # Colour images of the overhead depth cameras too (bigger bags); the gate camera is
    # colour only and always rendered.
    overhead_color: bool = False


def validate_against_store(scenario: Scenario, config: StoreConfig) -> list[tuple[str, str]]:
    """(field path, problem) for references the schema cannot check: slots and SKUs exist,
    no shopper takes more than the slot holds or puts back what they do not carry."""
    slot_product = {slot.id: slot.product for shelf in config.shelves for slot in shelf.slots}
    skus = {product.sku for product in config.products}
    errors = [(f'initial_stock.{slot_id}', f'unknown slot {slot_id!r}')
              for slot_id in scenario.initial_stock if slot_id not in slot_product]
    taken_from_slot: Counter[str] = Counter()
    tokens = [shopper.account_token for shopper in scenario.shoppers]
    for i, shopper in enumerate(scenario.shoppers):
        if tokens.count(shopper.account_token) > 1:
            errors.append((f'shoppers[{i}].account_token',
                           f'duplicate {shopper.account_token!r} (expected unique)'))
        carried: Counter[str] = Counter()
        for j, visit in enumerate(shopper.visits):
            path = f'shoppers[{i}].visits[{j}]'
            if visit.slot_id not in slot_product:
                errors.append((f'{path}.slot_id', f'unknown slot {visit.slot_id!r}'))
                continue
            sku = visit.sku or slot_product[visit.slot_id]
            if sku not in skus:
                errors.append((f'{path}.sku', f'unknown SKU {sku!r}'))
            elif visit.kind == 'pick':
                if visit.sku is not None and visit.sku != slot_product[visit.slot_id]:
                    errors.append((f'{path}.sku', f'a pick takes the slot product '
                                   f'{slot_product[visit.slot_id]!r}, not {visit.sku!r}'))
                carried[sku] += visit.quantity
                taken_from_slot[visit.slot_id] += visit.quantity
            elif carried[sku] < visit.quantity:
                errors.append((f'{path}.quantity', f'puts back {visit.quantity} x {sku} '
                               f'but carries {carried[sku]}'))
            else:
                carried[sku] -= visit.quantity
    for slot_id, taken in sorted(taken_from_slot.items()):
        if taken > scenario.initial_stock.get(slot_id, 0):
            errors.append((f'initial_stock.{slot_id}', f'{taken} units picked in all but '
                           f'{scenario.initial_stock.get(slot_id, 0)} stocked'))
    return errors


def _field_path(location: tuple) -> str:
    path = ''
    for part in location:
        path += f'[{part}]' if isinstance(part, int) else (f'.{part}' if path else str(part))
    return path or '(top level)'


def parse_scenario(data: object, source: Path | str) -> Scenario:
    """Validates parsed YAML content (schema only); errors name `source`."""
    if not isinstance(data, dict):
        raise ScenarioError(f'{source}: (top level): expected a mapping')
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = [f'{_field_path(e["loc"])}: {e["msg"]}'
                    + (f' (got {e["input"]!r})' if e['type'] != 'missing'
                       and not isinstance(e['input'], (dict, list)) else '')
                    for e in error.errors()]
        raise ScenarioError(f'{source}: ' + '; '.join(problems)) from None


def check_scenario(scenario: Scenario, config: StoreConfig, source: Path | str) -> None:
    """Raises ScenarioError naming `source` if the scenario does not fit the store."""
    problems = validate_against_store(scenario, config)
    if problems:
        raise ScenarioError(f'{source}: ' + '; '.join(f'{p}: {m}' for p, m in problems))


def load_scenario(path: str | Path) -> Scenario:
    """Reads a scenario YAML file and validates its schema."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as error:
        raise ScenarioError(f'{path}: cannot read: {error.strerror}') from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, 'problem_mark', None)
        line = f'line {where.line + 1}: ' if where else ''
        raise ScenarioError(f'{path}: {line}invalid YAML: '
                            f'{getattr(error, "problem", None) or error}') from None
    return parse_scenario(data, path)


def scenario_to_yaml(scenario: Scenario) -> str:
    return yaml.safe_dump(scenario.model_dump(mode='json'), sort_keys=False)


def save_scenario(scenario: Scenario, path: str | Path) -> None:
    Path(path).write_text(scenario_to_yaml(scenario), encoding='utf-8')


ENTRY_SCAN_SPACING_S = 2.0

# Per difficulty: units per pick, chance a carried item is put back, chance a put-back goes
# to another slot, chance of a party, fault knobs, arrival spread (share of the duration),
# visits per shopper, share of visits to one crowded shelf, share of visits to a slot whose
# neighbour holds a product of near-identical weight, and hanging occluders.
_PROFILES = {
    'easy': dict(max_quantity=1, put_back=0.1, misplace=0.0, party=0.0,
                 faults=Faults(noise_g=1.5, drift_g_per_min=0.0, dropout_probability=0.0),
                 arrival_spread=0.5, visits=(1, 3), crowd=0.0, confusable=0.0, occluders=0),
    'medium': dict(max_quantity=3, put_back=0.2, misplace=0.3, party=0.15,
                   faults=Faults(noise_g=3.0, drift_g_per_min=2.0, dropout_probability=0.0005,
                                 camera_frame_drop_probability=0.01, depth_noise_mm_at_1m=2.0,
                                 depth_hole_probability=0.002, rfid_miss_probability=0.05),
                   arrival_spread=0.4, visits=(1, 4), crowd=0.2, confusable=0.2, occluders=1),
    'hard': dict(max_quantity=4, put_back=0.3, misplace=0.5, party=0.3,
                 faults=Faults(noise_g=5.0, drift_g_per_min=6.0, dropout_probability=0.002,
                               camera_frame_drop_probability=0.03, depth_noise_mm_at_1m=4.0,
                               depth_hole_probability=0.01, rfid_miss_probability=0.1),
                 arrival_spread=0.2, visits=(2, 5), crowd=0.5, confusable=0.4, occluders=2),
}
# Independent generator streams, so that drawing bodies or occluders does not shift the
# shopping behaviour drawn from the main stream.
_BODY_STREAM = 1
_OCCLUDER_STREAM = 2


def confusable_slots(config: StoreConfig, tolerance: float = 0.06) -> list[str]:
    """Slots next to a slot on the same shelf level holding another product whose unit
    weight is within `tolerance` (relative): weight alone barely tells them apart."""
    found = []
    for shelf in config.shelves:
        for slot in shelf.slots:
            weight = config.product(slot.product).unit_weight_g
            for other in shelf.slots:
                neighbours = (abs(other.x_m - slot.x_m) <= (other.width_m + slot.width_m) / 2
                              + 1e-6 and abs(other.z_m - slot.z_m) < 1e-6)
                other_weight = config.product(other.product).unit_weight_g
                if (other is not slot and neighbours and other.product != slot.product
                        and abs(other_weight - weight) <= tolerance * max(weight, other_weight)):
                    found.append(slot.id)
                    break
    return found


def _random_body(rng: np.random.Generator) -> Body:
    height = float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.95))
    return Body(height_m=round(height, 3),
                shoulder_width_m=round(float(np.clip(height * 0.26 + rng.normal(0, 0.025),
                                                     0.36, 0.54)), 3),
                shirt_rgb=tuple(int(c) for c in rng.integers(30, 230, 3)))


def _random_occluders(config: StoreConfig, count: int, seed: int) -> list[Occluder]:
    """Panels hung between an overhead camera and the aisle in front of a shelf, so they
    hide the heads and hands of shoppers there from that camera (others may still see)."""
    from jwo_common.frames import shelf_to_map

    rng = np.random.default_rng([seed, _OCCLUDER_STREAM])
    cameras = [camera for camera in config.cameras if camera.depth]
    occluders = []
    for _ in range(count if cameras else 0):
        shelf = config.shelves[int(rng.integers(len(config.shelves)))]
        head = shelf_to_map(shelf) @ np.array(
            [rng.uniform(0.3, shelf.width_m - 0.3), -0.45, 1.6, 1.0])
        camera = min(cameras, key=lambda c: np.hypot(c.mount.x - head[0], c.mount.y - head[1]))
        eye = np.array([camera.mount.x, camera.mount.y, camera.mount.z])
        z_m = float(rng.uniform(2.3, min(2.6, eye[2] - 0.3)))
        centre = eye + (head[:3] - eye) * (eye[2] - z_m) / (eye[2] - head[2])
        occluders.append(Occluder(x_m=round(float(centre[0]), 3), y_m=round(float(centre[1]), 3),
                                  z_m=round(z_m, 3),
                                  size_x_m=round(float(rng.uniform(0.4, 0.8)), 3),
                                  size_y_m=round(float(rng.uniform(0.3, 0.5)), 3)))
    return occluders


def generate_scenario(config: StoreConfig, seed: int, n_shoppers: int, duration_s: float,
                      difficulty: Difficulty = 'easy',
                      store_config_path: str | Path | None = None,
                      overhead_color: bool = False,
                      arrival_spread: float | None = None) -> Scenario:
    """A random scenario of `n_shoppers` that all leave before `duration_s`; the same
    arguments give the same scenario. Visits that would not fit in time are dropped.
    Shoppers arrive over the first `arrival_spread` of the duration (default: the
    difficulty's; a long soak wants them spread over all of it).

    Harder scenarios have more units per pick, more put-backs (more of them misplaced),
    parties sharing one account, arrivals closer together, a share of visits crowding one
    shelf and a share going to slots whose neighbour weighs nearly the same, hanging
    occluders, and noisier sensors (see `Faults`)."""
    from jwo_sim.shoppers import plan_shoppers   # shoppers plans from scenario types

    if difficulty not in _PROFILES:
        raise ScenarioError(f'difficulty: expected one of {sorted(_PROFILES)}, got {difficulty!r}')
    profile = _PROFILES[difficulty]
    if arrival_spread is not None and not 0 < arrival_spread <= 1:
        raise ScenarioError(f'arrival spread: expected a share of the duration in (0, 1], got '
                            f'{arrival_spread}')
    spread = profile['arrival_spread'] if arrival_spread is None else arrival_spread
    rng = np.random.default_rng(seed)
    body_rng = np.random.default_rng([seed, _BODY_STREAM])
    slots = [(slot.id, slot.product) for shelf in config.shelves for slot in shelf.slots]
    slot_index = {slot_id: i for i, (slot_id, _) in enumerate(slots)}
    stock = {slot_id: int(rng.integers(4, 11)) for slot_id, _ in slots}
    remaining = dict(stock)
    crowded_shelf = config.shelves[int(rng.integers(len(config.shelves)))]
    crowded = [slot_index[slot.id] for slot in crowded_shelf.slots]
    confusable = [slot_index[slot_id] for slot_id in confusable_slots(config)]

    def pick_slot() -> tuple[str, str]:
        draw = rng.random()
        if draw < profile['crowd']:
            return slots[crowded[int(rng.integers(len(crowded)))]]
        if draw < profile['crowd'] + profile['confusable'] and confusable:
            return slots[confusable[int(rng.integers(len(confusable)))]]
        return slots[int(rng.integers(len(slots)))]

    shoppers = []
    arrivals = np.sort(rng.uniform(0, duration_s * spread, n_shoppers))
    # One code at a time at the entry scanner: its turnstile admits a party every few seconds.
    for index in range(1, n_shoppers):
        arrivals[index] = max(arrivals[index], arrivals[index - 1] + ENTRY_SCAN_SPACING_S)
    for index, arrival_s in enumerate(arrivals):
        speed = float(rng.uniform(1.0, 1.4))
        party = int(rng.integers(2, 4)) if rng.random() < profile['party'] else 1
        visits: list[Visit] = []
        for _ in range(int(rng.integers(profile['visits'][0], profile['visits'][1] + 1))):
            slot_id, sku = pick_slot()
            quantity = min(int(rng.integers(1, profile['max_quantity'] + 1)), remaining[slot_id])
            if quantity == 0:
                continue
            remaining[slot_id] -= quantity
            visits.append(Visit(slot_id=slot_id, kind='pick', quantity=quantity,
                                dwell_s=round(float(rng.uniform(0.5, 2.5)), 2)))
            if rng.random() < profile['put_back']:
                put_slot = slot_id
                if rng.random() < profile['misplace']:
                    put_slot = slots[int(rng.integers(len(slots)))][0]
                visits.append(Visit(slot_id=put_slot, kind='put', quantity=1,
                                    sku=None if put_slot == slot_id else sku,
                                    dwell_s=round(float(rng.uniform(0.5, 2.0)), 2)))
        shoppers.append(Shopper(account_token=f'acct_{seed}_{index:03d}',
                                arrival_s=round(float(arrival_s), 3),
                                walking_speed_mps=round(speed, 3), party_size=party,
                                visits=visits,
                                bodies=[_random_body(body_rng) for _ in range(party)]))
    # Everyone moves together, and those still inside a second before the end may only be
    # held up by others. So drop one visit at a time, the last one of whichever of them
    # arrived last, and try again; a put always comes after its pick, so dropping from the
    # end never leaves a put of something not carried. One with no visits left is dropped.
    while True:
        plans = plan_shoppers(config, shoppers, until_s=duration_s - 1.0)
        late = [i for i, plan in enumerate(plans) if plan.exit_s > duration_s - 1.0]
        if not late:
            break
        latest = max(late, key=lambda i: shoppers[i].arrival_s)
        if shoppers[latest].visits:
            shoppers[latest] = shoppers[latest].model_copy(
                update={'visits': shoppers[latest].visits[:-1]})
        else:
            del shoppers[latest]
    return Scenario(store_config=str(store_config_path or config.source_path), seed=seed,
                    duration_s=duration_s, initial_stock=stock, shoppers=shoppers,
                    faults=profile['faults'],
                    occluders=_random_occluders(config, profile['occluders'], seed),
                    overhead_color=overhead_color)
