"""The per-store config: one YAML file that is the single source of truth for a store.

Every node reads the part it needs through `load_store_config`, which validates the whole
file (schema, units, cross-references) and raises `StoreConfigError` with one line naming
the file, the field path and what was expected.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Union

import pycountry
import yaml
from pydantic import (BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError,
                      field_validator, model_validator)

# libyaml's loader where PyYAML was built with it: ten times faster, same documents.
_YAML_LOADER = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)

# ISO 4217 currencies whose minor unit is not 1/100 (all others in use have exponent 2).
_CURRENCY_EXPONENT_EXCEPTIONS = {
    **dict.fromkeys(['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF',
                     'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF'], 0),
    **dict.fromkeys(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND'], 3),
    **dict.fromkeys(['CLF', 'UYW'], 4),
}

# Ids become ROS frame names and topic parts, so they follow ROS name rules.
RosId = Annotated[str, Field(pattern=r'^[a-z][a-z0-9_]*$', max_length=63)]
Metres = float
PositiveInt = Annotated[StrictInt, Field(gt=0)]
MinorUnits = Annotated[StrictInt, Field(ge=0)]


class StoreConfigError(ValueError):
    """A store config that cannot be used; the message is one line: file: field: problem."""

    def __init__(self, message: str):
        # Keys and values come from the file and may hold line breaks; the error stays one line.
        super().__init__(re.sub(r'[\x00-\x1f\x7f]', lambda m: repr(m.group())[1:-1], message))


class _Model(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    model_config = ConfigDict(extra='forbid', frozen=True, allow_inf_nan=False)


class StoreInfo(_Model):
    id: RosId
    name: str
    locale: Annotated[str, Field(pattern=r'^[a-z]{2}_[A-Z]{2}$')]
    currency: str
    timezone: str

    @field_validator('currency')
    @classmethod
    def _iso_4217(cls, code: str) -> str:
        if pycountry.currencies.get(alpha_3=code) is None:
            raise ValueError(f'an ISO 4217 currency code such as GBP or USD, got {code!r}')
        return code

    @property
    def currency_exponent(self) -> int:
        """Digits after the decimal point of the currency (2 for GBP and USD)."""
        return _CURRENCY_EXPONENT_EXCEPTIONS.get(self.currency, 2)


class TaxClass(_Model):
    # A decimal string ('20', '10.35'): a binary float cannot hold most rates exactly.
    rate_percent: Decimal

    @field_validator('rate_percent', mode='before')
    @classmethod
    def _no_float(cls, value: object) -> object:
        if isinstance(value, float):
            raise ValueError(f"a quoted decimal string such as '{value}', not a float")
        return value

    @field_validator('rate_percent')
    @classmethod
    def _in_range(cls, rate: Decimal) -> Decimal:
        if not Decimal(0) <= rate <= Decimal(100):
            raise ValueError(f'a rate between 0 and 100 percent, got {rate}')
        return rate


class TaxRules(_Model):
    prices_include_tax: StrictBool        # VAT-style (UK) or added at the till (US sales tax)
    rounding: Literal['half_up', 'half_even']
    round_per: Literal['line', 'receipt']
    classes: dict[RosId, TaxClass]


class Floor(_Model):
    min_x: Metres
    min_y: Metres
    max_x: Metres
    max_y: Metres

    @model_validator(mode='after')
    def _non_empty(self) -> Floor:
        if self.max_x <= self.min_x or self.max_y <= self.min_y:
            raise ValueError('max_x > min_x and max_y > min_y')
        return self


class MountPose(_Model):
    """Pose of a device's `<id>_link` frame in `map` (REP 103: x forward, y left, z up)."""

    x: Metres
    y: Metres
    z: Metres
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0


class Intrinsics(_Model):
    fx: Annotated[float, Field(gt=0)]
    fy: Annotated[float, Field(gt=0)]
    cx: float
    cy: float
    distortion_model: Literal['plumb_bob', 'rational_polynomial', 'equidistant'] = 'plumb_bob'
    distortion: list[float] = Field(default_factory=lambda: [0.0] * 5)


class PlaybackSource(_Model):
    kind: Literal['playback']             # frames come from a bag or the simulator


class RealSenseSource(_Model):
    kind: Literal['realsense']
    serial_number: str | None = None      # None: the first camera found
    recording: str | None = None          # a recorded .db3 to play instead of live frames


class OpenCvSource(_Model):
    kind: Literal['opencv']
    uri: Union[StrictInt, str]            # device index, video file or RTSP URL


class Camera(_Model):
    id: RosId
    model: str
    width: PositiveInt
    height: PositiveInt
    fps: Annotated[float, Field(gt=0)]
    depth: StrictBool = True
    source: Annotated[Union[PlaybackSource, RealSenseSource, OpenCvSource],
                      Field(discriminator='kind')]
    intrinsics: Intrinsics | None = None
    calibration_file: str | None = None   # ROS camera_info YAML, relative to the store config
    mount: MountPose

    @model_validator(mode='after')
    def _one_calibration(self) -> Camera:
        if (self.intrinsics is None) == (self.calibration_file is None):
            raise ValueError('exactly one of intrinsics or calibration_file')
        return self


class Slot(_Model):
    """One load-cell plate on a shelf and the product the planogram puts there."""

    id: RosId
    channel: Annotated[StrictInt, Field(ge=0)]   # load-cell channel on the shelf's board
    product: str                                 # SKU
    x_m: Metres                                  # plate centre along the shelf front
    z_m: Metres                                  # plate height above the floor
    width_m: Annotated[Metres, Field(gt=0)]
    depth_m: Annotated[Metres, Field(gt=0)]


class LoadCellBoard(_Model):
    port: str                             # serial device, or 'playback'
    sample_rate_hz: Annotated[float, Field(gt=0)] = 60.0


class Shelf(_Model):
    """A shelf unit. Its frame `<id>_link` sits at the front-left floor corner, x along the
    front, y into the shelf, z up; shoppers stand on its -y side."""

    id: RosId
    x: Metres
    y: Metres
    yaw_deg: float = 0.0
    width_m: Annotated[Metres, Field(gt=0)]
    depth_m: Annotated[Metres, Field(gt=0)]
    height_m: Annotated[Metres, Field(gt=0)]
    load_cells: LoadCellBoard
    slots: Annotated[list[Slot], Field(min_length=1)]


class Product(_Model):
    sku: Annotated[str, Field(pattern=r'^[A-Za-z0-9][A-Za-z0-9_-]*$')]
    name: str
    unit_weight_g: Annotated[float, Field(gt=0)]
    weight_stddev_g: Annotated[float, Field(ge=0)]
    price_minor: MinorUnits
    tax_class: RosId
    age_restricted: StrictBool = False
    rfid_tagged: StrictBool = False
    rfid_epc_prefix: Annotated[str, Field(pattern=r'^[0-9A-F]+$')] | None = None

    @model_validator(mode='after')
    def _rfid_prefix(self) -> Product:
        if self.rfid_tagged and self.rfid_epc_prefix is None:
            raise ValueError('rfid_epc_prefix (upper-case hex) when rfid_tagged is true')
        return self


class Zone(_Model):
    min_x: Metres
    min_y: Metres
    max_x: Metres
    max_y: Metres

    @model_validator(mode='after')
    def _non_empty(self) -> Zone:
        if self.max_x <= self.min_x or self.max_y <= self.min_y:
            raise ValueError('max_x > min_x and max_y > min_y')
        return self

    def contains(self, x: float, y: float) -> bool:
        return self.min_x <= x <= self.max_x and self.min_y <= y <= self.max_y


class Gate(_Model):
    id: RosId
    kind: Literal['entry', 'exit']
    zone: Zone                            # floor area of the gate in map
    scanner_camera: RosId | None = None   # entry: the camera that reads the app QR code


class PaymentSettings(_Model):
    processor: Literal['sandbox']
    hold_minor: MinorUnits                # amount authorised at entry
    timeout_s: Annotated[float, Field(gt=0)] = 5.0


class SqliteLedger(_Model):
    backend: Literal['sqlite']
    path: str                             # relative to the store config


class PostgresLedger(_Model):
    backend: Literal['postgresql']
    dsn: str


class Billing(_Model):
    ledger: Annotated[Union[SqliteLedger, PostgresLedger], Field(discriminator='backend')]
    payment: PaymentSettings


class Security(_Model):
    # Keystore folder (relative to the store config) of the keys that sign gate events and
    # review decisions; see jwo_common.signing.
    keystore: str
    signature_window_s: Annotated[float, Field(gt=0, le=3600)] = 30.0


class Privacy(_Model):
    # Raw camera images reach disk only where a store turns this on, and then for
    # image_retention_days at most (jwo_bag_purge enforces it).
    record_images: bool = False
    image_retention_days: Annotated[int, Field(ge=1, le=365)] = 7
    recordings: str                       # production recordings folder, relative to the file


class StoreConfig(_Model):
    store: StoreInfo
    tax: TaxRules
    floor: Floor
    cameras: list[Camera]
    shelves: list[Shelf]
    products: list[Product]
    gates: list[Gate]
    billing: Billing
    security: Security
    privacy: Privacy
    # Where the file was read from: relative paths in it resolve against this.
    source_path: Path = Field(default=Path('.'), exclude=True)

    def product(self, sku: str) -> Product:
        return self._products_by_sku[sku]

    def camera(self, camera_id: str) -> Camera:
        return next(c for c in self.cameras if c.id == camera_id)

    def depth_camera_ids(self, chosen: list[str]) -> list[str]:
        """The `chosen` cameras (a node's `cameras` parameter), or every depth camera."""
        known = {c.id for c in self.cameras}
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise ValueError(f'parameter cameras: unknown camera(s) {unknown} in store '
                             f'{self.store.id} (expected some of {sorted(known)})')
        return list(chosen) or [c.id for c in self.cameras if c.depth]

    def shelf(self, shelf_id: str) -> Shelf:
        return next(s for s in self.shelves if s.id == shelf_id)

    def resolve_path(self, relative: str) -> Path:
        return (self.source_path.parent / relative).resolve()

    def gates_of_kind(self, kind: str) -> list[Gate]:
        return [g for g in self.gates if g.kind == kind]

    @functools.cached_property
    def _products_by_sku(self) -> dict[str, Product]:
        return {p.sku: p for p in self.products}


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}


def _cross_reference_errors(config: StoreConfig) -> list[tuple[str, str]]:
    """(field path, problem) for what the schema alone cannot see."""
    errors: list[tuple[str, str]] = []

    def unique(kind: str, entries: list[tuple[str, str]]) -> None:
        repeated = _duplicates([value for _, value in entries])
        errors.extend((path, f'duplicate {kind} {value!r} (expected unique)')
                      for path, value in entries if value in repeated)

    unique('camera id', [(f'cameras[{i}].id', c.id) for i, c in enumerate(config.cameras)])
    unique('shelf id', [(f'shelves[{i}].id', s.id) for i, s in enumerate(config.shelves)])
    unique('gate id', [(f'gates[{i}].id', g.id) for i, g in enumerate(config.gates)])
    unique('sku', [(f'products[{i}].sku', p.sku) for i, p in enumerate(config.products)])
    unique('slot id', [(f'shelves[{i}].slots[{j}].id', slot.id)
                       for i, shelf in enumerate(config.shelves)
                       for j, slot in enumerate(shelf.slots)])
    skus = {p.sku for p in config.products}
    camera_ids = {c.id for c in config.cameras}
    errors.extend((f'shelves[{i}].id', f'{shelf.id!r} is also a camera id (frames would clash)')
                  for i, shelf in enumerate(config.shelves) if shelf.id in camera_ids)
    for i, product in enumerate(config.products):
        if product.tax_class not in config.tax.classes:
            errors.append((f'products[{i}].tax_class',
                           f'unknown tax class {product.tax_class!r} '
                           f'(expected one of {sorted(config.tax.classes)})'))
    for i, shelf in enumerate(config.shelves):
        unique(f'load-cell channel on shelf {shelf.id!r}',
               [(f'shelves[{i}].slots[{j}].channel', str(slot.channel))
                for j, slot in enumerate(shelf.slots)])
        for j, slot in enumerate(shelf.slots):
            path = f'shelves[{i}].slots[{j}]'
            if slot.product not in skus:
                errors.append((f'{path}.product',
                               f'unknown SKU {slot.product!r} (expected a products[].sku)'))
            half = slot.width_m / 2
            if slot.x_m - half < -1e-9 or slot.x_m + half > shelf.width_m + 1e-9:
                errors.append((f'{path}.x_m', f'slot sticks out of the shelf '
                               f'(expected width_m/2 <= x_m <= {shelf.width_m} - width_m/2)'))
    for i, gate in enumerate(config.gates):
        if gate.scanner_camera is not None and gate.scanner_camera not in camera_ids:
            errors.append((f'gates[{i}].scanner_camera',
                           f'unknown camera {gate.scanner_camera!r} (expected a cameras[].id)'))
    for kind in ('entry', 'exit'):
        if not config.gates_of_kind(kind):
            errors.append(('gates', f'no {kind} gate (expected at least one)'))
    for i, camera in enumerate(config.cameras):
        if camera.calibration_file is not None and not config.resolve_path(
                camera.calibration_file).is_file():
            errors.append((f'cameras[{i}].calibration_file',
                           f'no such file {str(config.resolve_path(camera.calibration_file))!r}'))
    return errors


def _field_path(location: tuple) -> str:
    path = ''
    for part in location:
        if isinstance(part, int):
            path += f'[{part}]'
        elif part in ('playback', 'realsense', 'opencv', 'sqlite', 'postgresql') or \
                re.match(r'^(int|str|function-|union\[)', str(part)):
            continue    # pydantic's names for union branches, not fields of the file
        else:
            path += f'.{part}' if path else str(part)
    return path or '(top level)'


def parse_store_config(data: object, source: Path) -> StoreConfig:
    """Validates already-parsed YAML content; errors name `source`."""
    if not isinstance(data, dict):
        raise StoreConfigError(f'{source}: (top level): expected a mapping of sections')
    try:
        config = StoreConfig.model_validate({**data, 'source_path': source})
    except ValidationError as error:
        problems = [f'{_field_path(e["loc"])}: {e["msg"]}'
                    + (f' (got {e["input"]!r})' if e['type'] != 'missing'
                       and not isinstance(e['input'], (dict, list)) else '')
                    for e in error.errors()]
        raise StoreConfigError(f'{source}: ' + '; '.join(problems)) from None
    problems = _cross_reference_errors(config)
    if problems:
        raise StoreConfigError(f'{source}: ' + '; '.join(f'{p}: {m}' for p, m in problems))
    return config


def load_store_config(path: str | Path) -> StoreConfig:
    """Reads and validates a store config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as error:
        raise StoreConfigError(f'{path}: cannot read: {error.strerror}') from None
    try:
        data = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        where = getattr(error, 'problem_mark', None)
        line = f'line {where.line + 1}: ' if where else ''
        raise StoreConfigError(f'{path}: {line}invalid YAML: '
                               f'{getattr(error, "problem", None) or error}') from None
    return parse_store_config(data, path)
