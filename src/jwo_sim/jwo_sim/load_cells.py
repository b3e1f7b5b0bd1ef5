"""Load-cell signals of every slot, and the true pick/put events behind them (ROS-free).

Each slot's plate reads the sum of the real weights of the units on it (every unit's weight
is drawn once from unit_weight_g +- weight_stddev_g, so two units of one product differ),
plus, per the scenario's fault knobs, gaussian noise, a slow drift, and NaN dropout bursts.
Around every reach the hand presses on the plate (a half-sine of hundreds of grams lasting
`press_duration_s`); the units leave or arrive at the middle of the press.

    events, signals = simulate_load_cells(config, scenario, plans)
    for batch in load_cell_batches(signals['shelf_a']):
        batch.grams.shape   # (6, 8): [sample][slot], float32, like LoadCellReadings

Random draws come from numpy Generators seeded with (scenario.seed, stream), so the same
scenario gives the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np

from jwo_common.store_config import StoreConfig
from jwo_sim.scenario import Scenario
from jwo_sim.shoppers import ShopperPlan

BATCH_PERIOD_S = 0.1
DROPOUT_MAX_SAMPLES = 30
# Independent random streams per purpose, so adding draws to one does not shift another.
_UNIT_WEIGHTS_STREAM = 1
_PRESS_STREAM = 2
_SHELF_NOISE_STREAM = 100


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


@dataclass(frozen=True)
class ShelfEventTruth:
    """A true pick or put: units left (pick) or arrived on (put) a slot. `delta_grams` is
    the true weight change of the plate (negative for a pick)."""

    t_start_s: float          # hand touches the plate
    t_settled_s: float        # hand gone, plate at rest again
    shelf_id: str
    slot_id: str
    sku: str
    quantity: int
    kind: Literal['pick', 'put']
    account_token: str
    shopper_index: int
    delta_grams: float
    epcs: tuple[str, ...] = ()   # RFID tags of the units moved (tagged products only)


@dataclass(frozen=True)
class ShelfSignal:
    """All samples of one shelf: `grams[k, c]` is slot `slot_ids[c]` at `t_s[k]` (sim s)."""

    shelf_id: str
    sample_rate_hz: float
    slot_ids: tuple[str, ...]
    t_s: np.ndarray           # (n,)
    grams: np.ndarray         # (n, slots) float32, NaN during dropouts


@dataclass(frozen=True)
class LoadCellBatch:
    """One LoadCellReadings message: samples from `stamp_s` on, row-major [sample][slot]."""

    shelf_id: str
    stamp_s: float            # sim time of the first sample
    sample_rate_hz: float
    slot_ids: tuple[str, ...]
    grams: np.ndarray         # (samples, slots) float32


def simulate_load_cells(config: StoreConfig, scenario: Scenario,
                        plans: list[ShopperPlan]) -> tuple[list[ShelfEventTruth],
                                                           dict[str, ShelfSignal]]:
    """True events (in time order) and every shelf's samples over [0, duration_s)."""
    events, plate_changes, presses = _true_events(config, scenario, plans)
    signals = {}
    for shelf_index, shelf in enumerate(config.shelves):
        rate = shelf.load_cells.sample_rate_hz
        t_s = np.arange(int(np.ceil(scenario.duration_s * rate))) / rate
        rng = _rng(scenario.seed, _SHELF_NOISE_STREAM + shelf_index)
        faults = scenario.faults
        columns = []
        for slot in shelf.slots:
            plate = np.full(t_s.shape, plate_changes[slot.id][0][1])
            for t_change, grams in plate_changes[slot.id][1:]:
                plate[t_s >= t_change] = grams
            for t_start, t_end, amplitude in presses[slot.id]:
                touching = (t_s >= t_start) & (t_s < t_end)
                plate[touching] += amplitude * np.sin(
                    np.pi * (t_s[touching] - t_start) / (t_end - t_start))
            drift_rate = faults.drift_g_per_min * rng.uniform(-1.0, 1.0) / 60.0
            plate += drift_rate * t_s + rng.normal(0.0, faults.noise_g, t_s.shape)
            _drop_out(plate, faults.dropout_probability, rng)
            columns.append(plate)
        signals[shelf.id] = ShelfSignal(shelf.id, rate, tuple(s.id for s in shelf.slots), t_s,
                                        np.stack(columns, axis=1).astype(np.float32))
    return events, signals


def _drop_out(plate: np.ndarray, probability: float, rng: np.random.Generator) -> None:
    """NaN bursts of 1..DROPOUT_MAX_SAMPLES samples, each starting with `probability`."""
    starts = np.flatnonzero(rng.random(plate.shape) < probability)
    lengths = rng.integers(1, DROPOUT_MAX_SAMPLES + 1, starts.shape)
    for start, length in zip(starts, lengths):
        plate[start:start + length] = np.nan


def _true_events(config: StoreConfig, scenario: Scenario, plans: list[ShopperPlan]):
    """Replays every reach in time order, moving real unit weights between slots and carts.
    Returns (events, plate_changes: slot -> [(t, grams after)], presses: slot -> [(t0, t1,
    amplitude)])."""
    unit_rng = _rng(scenario.seed, _UNIT_WEIGHTS_STREAM)
    press_rng = _rng(scenario.seed, _PRESS_STREAM)
    units_on_slot: dict[str, list[tuple[str, float, str]]] = {}   # (sku, grams, epc or '')
    serial = 0
    for shelf in config.shelves:
        for slot in shelf.slots:
            product = config.product(slot.product)
            count = scenario.initial_stock.get(slot.id, 0)
            weights = unit_rng.normal(product.unit_weight_g, product.weight_stddev_g, count)
            units = []
            for weight in weights:
                serial += 1
                units.append((product.sku, float(weight), epc(product.rfid_epc_prefix, serial)
                              if product.rfid_tagged else ''))
            units_on_slot[slot.id] = units
    plate_changes = {slot_id: [(0.0, sum(w for _, w, _ in units))]
                     for slot_id, units in units_on_slot.items()}
    presses: dict[str, list[tuple[float, float, float]]] = {s: [] for s in units_on_slot}
    slot_product = {slot.id: slot.product for shelf in config.shelves for slot in shelf.slots}
    reaches = sorted(((reach.t_change_s, index, reach) for index, plan in enumerate(plans)
                      for reach in plan.reaches), key=lambda item: item[:2])
    carts: list[list[tuple[str, float, str]]] = [[] for _ in plans]
    events = []
    for _, shopper_index, reach in reaches:
        shopper = scenario.shoppers[shopper_index]
        visit = shopper.visits[reach.visit_index]
        slot_units = units_on_slot[reach.slot_id]
        if visit.kind == 'pick':
            sku = slot_product[reach.slot_id]
            moved = _take_last(slot_units, sku, visit.quantity)
            carts[shopper_index].extend(moved)
        else:
            sku = visit.sku or slot_product[reach.slot_id]
            moved = _take_last(carts[shopper_index], sku, visit.quantity)
            slot_units.extend(moved)
        delta = sum(w for _, w, _ in moved) * (-1 if visit.kind == 'pick' else 1)
        plate_changes[reach.slot_id].append((reach.t_change_s,
                                             sum(w for _, w, _ in slot_units)))
        presses[reach.slot_id].append((reach.t_press_start_s, reach.t_press_end_s,
                                       float(press_rng.uniform(150.0, 600.0))))
        events.append(ShelfEventTruth(reach.t_press_start_s, reach.t_press_end_s, reach.shelf_id,
                                      reach.slot_id, sku, visit.quantity, visit.kind,
                                      shopper.account_token, shopper_index, delta,
                                      tuple(tag for _, _, tag in moved if tag)))
    return events, plate_changes, presses


def epc(prefix: str, serial: int) -> str:
    """A 96-bit EPC (24 upper-case hex digits): the product's prefix, then a serial."""
    return prefix + f'{serial:0{24 - len(prefix)}X}'


def _take_last(units: list[tuple[str, float, str]], sku: str,
               quantity: int) -> list[tuple[str, float, str]]:
    """Removes the `quantity` most recently added units of `sku` (a shopper takes the
    product they came for even when a misplaced one lies on top)."""
    taken = []
    for _ in range(quantity):
        position = max(i for i, (unit_sku, _, _) in enumerate(units) if unit_sku == sku)
        taken.append(units.pop(position))
    return taken


def load_cell_batches(signal: ShelfSignal) -> Iterator[LoadCellBatch]:
    """The signal cut into one batch per BATCH_PERIOD_S (6 samples at 60 Hz)."""
    per_batch = max(1, round(signal.sample_rate_hz * BATCH_PERIOD_S))
    for first in range(0, len(signal.t_s), per_batch):
        yield LoadCellBatch(signal.shelf_id, float(signal.t_s[first]), signal.sample_rate_hz,
                            signal.slot_ids, signal.grams[first:first + per_batch])
