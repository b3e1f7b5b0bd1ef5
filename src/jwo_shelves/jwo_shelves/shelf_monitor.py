"""One shelf end to end, without ROS: load-cell batches in, identified shelf events out."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from jwo_shelves.identification import (Candidate, Identification, IdentificationSettings,
                                        Identifier)
from jwo_shelves.planogram import ShelfPlanogram
from jwo_shelves.weight_events import DetectorSettings, LoadCellBatch, ShelfWeightDetector


class EventKind(enum.IntEnum):
    """Same values as jwo_interfaces/ShelfEvent kinds."""

    PICK = 0
    PUT = 1
    ANOMALY = 2
    OUTAGE = 3       # from the cells' health (jwo_shelves.outages), not from weight
    RESTORED = 4


@dataclass(frozen=True)
class ShelfEventData:
    event_id: str             # the same for the same input, so replays keep it
    shelf_id: str
    slot_ids: tuple[str, ...]
    kind: EventKind
    started_ns: int
    settled_ns: int
    detected_ns: int          # sensor time of the sample that confirmed the settling
    delta_g: float
    plate_deltas_g: tuple[float, ...]
    candidates: tuple[Candidate, ...]
    unknown_probability: float
    lifted_ns: int = 0        # when its units left or landed (one lift seen); 0: not seen


class ShelfMonitor:
    """Detects and identifies the pick/put events of one shelf."""

    def __init__(self, planogram: ShelfPlanogram,
                 detector: DetectorSettings = DetectorSettings(),
                 identification: IdentificationSettings = IdentificationSettings()):
        self.planogram = planogram
        self._detector = ShelfWeightDetector(len(planogram.plates), planogram.adjacent, detector)
        self._identifier = Identifier(planogram, identification)
        self._columns: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self.ignored_slot_ids: set[str] = set()

    @property
    def shelf_id(self) -> str:
        return self.planogram.shelf_id

    @property
    def detector(self) -> ShelfWeightDetector:
        return self._detector

    def to_plate_order(self, slot_ids: Sequence[str], grams: np.ndarray) -> np.ndarray:
        """[sample][column of slot_ids] -> [sample][plate]; plates not sent are NaN."""
        key = tuple(slot_ids)
        if key not in self._columns:
            index = {slot_id: i for i, slot_id in enumerate(self.planogram.slot_ids)}
            source = [i for i, slot_id in enumerate(key) if slot_id in index]
            self._columns[key] = (np.array(source, dtype=np.intp),
                                  np.array([index[key[i]] for i in source], dtype=np.intp))
            self.ignored_slot_ids.update(s for s in key if s not in index)
        source, target = self._columns[key]
        ordered = np.full((grams.shape[0], len(self.planogram.plates)), np.nan)
        ordered[:, target] = grams[:, source]
        return ordered

    def process(self, slot_ids: Sequence[str], start_ns: int, sample_rate_hz: float,
                grams: np.ndarray) -> list[ShelfEventData]:
        """`grams` is [sample][slot] with columns named by `slot_ids` (any order)."""
        grams = np.asarray(grams, dtype=np.float64).reshape(-1, len(slot_ids))
        batch = LoadCellBatch(start_ns, sample_rate_hz, self.to_plate_order(slot_ids, grams))
        return self._identify(self._detector.process(batch))

    def flush(self) -> list[ShelfEventData]:
        return self._identify(self._detector.flush())

    def _identify(self, weight_events) -> list[ShelfEventData]:
        results = []
        for weight_event in weight_events:
            for identification in self._identifier.identify(weight_event):
                results.append(self._event(identification))
                self._remember(identification)
        return results

    def _remember(self, identification: Identification) -> None:
        if identification.is_anomaly:
            return
        best = identification.candidates[0]
        sign = -1 if identification.is_pick else 1
        self.planogram.record(identification.slots[0], best.sku, sign * best.quantity)

    def _event(self, identification: Identification) -> ShelfEventData:
        changes = identification.changes
        slot_ids = tuple(self.planogram.plates[c.slot].slot_id for c in changes)
        settled_ns = max(c.settled_ns for c in changes)
        if identification.is_anomaly:
            kind = EventKind.ANOMALY
        else:
            kind = EventKind.PICK if identification.is_pick else EventKind.PUT
        return ShelfEventData(
            event_id=f'{self.shelf_id}-{slot_ids[0]}-{settled_ns}',
            shelf_id=self.shelf_id, slot_ids=slot_ids, kind=kind,
            started_ns=min(c.started_ns for c in changes), settled_ns=settled_ns,
            detected_ns=max(c.detected_ns for c in changes),
            delta_g=identification.delta_g,
            plate_deltas_g=tuple(c.delta_g for c in changes),
            candidates=identification.candidates,
            unknown_probability=identification.unknown_probability,
            # The plate that moved most (an item across plates lifts off all of them).
            lifted_ns=max(changes, key=lambda c: abs(c.delta_g)).lifted_ns)
