"""Which product, and how many, explain a settled weight change.

Every (product, quantity) is a hypothesis with the planogram's prior and a Gaussian
likelihood of the measured change: q units weigh q * unit_weight_g with variance
q * weight_stddev_g**2, plus the uncertainty of the measurement itself. One more
hypothesis, "none of these", has a flat likelihood over the weights a shelf can see; when
it wins the change is an anomaly (a foreign object, tampering, a broken item).

A change seen on several touching plates is either one item lying across them or separate
items on each; every way of splitting the plates into connected groups is scored and the
most probable one is reported. The evidence of a group carries the density of how its
weight split over the plates, which keeps "one item across plates" from explaining every
pair of coincident changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from jwo_shelves.planogram import ShelfPlanogram
from jwo_shelves.weight_events import PlateChange, WeightEvent


@dataclass(frozen=True)
class IdentificationSettings:
    max_quantity: int = 12
    quantity_decay: float = 0.3          # prior of q+1 units relative to q units
    measurement_floor_g: float = 1.0     # residual drift, creep and hand transients
    unknown_prior: float = 0.01          # of "none of these" against the planogram's weights
    unknown_range_g: float = 5000.0      # the flat likelihood of "none of these" spans this
    max_candidates: int = 5
    min_probability: float = 1e-3
    max_partition_plates: int = 5        # larger groups are scored plate by plate

    def __post_init__(self):
        if self.max_quantity < 1:
            raise ValueError(f'max_quantity must be >= 1, got {self.max_quantity}')
        if not 0 < self.quantity_decay <= 1:
            raise ValueError(f'quantity_decay must be in (0, 1], got {self.quantity_decay}')
        for name in ('unknown_prior', 'unknown_range_g', 'measurement_floor_g'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)!r}')


@dataclass(frozen=True)
class Candidate:
    sku: str
    quantity: int
    probability: float


@dataclass(frozen=True)
class Identification:
    """One identified change: the plates it covers and what most probably moved."""

    changes: tuple[PlateChange, ...]
    candidates: tuple[Candidate, ...]    # most probable first; empty for an anomaly
    unknown_probability: float

    @property
    def slots(self) -> tuple[int, ...]:
        return tuple(c.slot for c in self.changes)

    @property
    def delta_g(self) -> float:
        return sum(c.delta_g for c in self.changes)

    @property
    def is_anomaly(self) -> bool:
        return not self.candidates

    @property
    def is_pick(self) -> bool:
        return self.delta_g < 0


@dataclass(frozen=True)
class _Scored:
    log_evidence: float
    candidates: tuple[Candidate, ...]
    unknown_probability: float


class Identifier:
    """Scores weight changes against one shelf's planogram."""

    def __init__(self, planogram: ShelfPlanogram,
                 settings: IdentificationSettings = IdentificationSettings()):
        self.planogram = planogram
        self.settings = settings
        products = list(planogram.products.values())
        self._skus = [p.sku for p in products]
        quantities = np.arange(1, settings.max_quantity + 1, dtype=np.float64)
        self._quantities = quantities
        unit = np.array([p.unit_weight_g for p in products])[:, None]
        spread = np.array([p.stddev_g for p in products])[:, None]
        self._mean_g = unit * quantities                         # [product, quantity]
        self._variance_g2 = spread ** 2 * quantities
        self._log_quantity_prior = (quantities - 1) * math.log(settings.quantity_decay)

    def identify(self, event: WeightEvent) -> list[Identification]:
        """The most probable reading of the event: one Identification per group of plates."""
        changes = event.changes
        if len(changes) == 1 or len(changes) > self.settings.max_partition_plates:
            return [self._identification(group, self._score(group)) for group in
                    ([c] for c in changes)]
        best: tuple[float, list[tuple[list[PlateChange], _Scored]]] | None = None
        for partition in self._partitions(list(changes)):
            scored = [(group, self._score(group)) for group in partition]
            total = sum(s.log_evidence for _, s in scored)
            if best is None or total > best[0]:
                best = (total, scored)
        return [self._identification(group, scored) for group, scored in best[1]]

    def _identification(self, group: list[PlateChange], scored: _Scored) -> Identification:
        return Identification(changes=tuple(group), candidates=scored.candidates,
                              unknown_probability=scored.unknown_probability)

    def _partitions(self, changes: list[PlateChange]) -> Iterator[list[list[PlateChange]]]:
        """Every split of the plates into groups that are connected and change the same way."""
        for partition in _set_partitions(changes):
            if all(self._joinable(group) for group in partition):
                yield partition

    def _joinable(self, group: list[PlateChange]) -> bool:
        if len(group) == 1:
            return True
        if len({c.delta_g > 0 for c in group}) != 1:
            return False
        slots = {c.slot for c in group}
        reached = {group[0].slot}
        frontier = [group[0].slot]
        while frontier:
            for neighbour in self.planogram.adjacent[frontier.pop()]:
                if neighbour in slots and neighbour not in reached:
                    reached.add(neighbour)
                    frontier.append(neighbour)
        return reached == slots

    def _score(self, group: Sequence[PlateChange]) -> _Scored:
        s = self.settings
        delta = sum(c.delta_g for c in group)
        magnitude = abs(delta)
        measurement_var = sum(c.delta_stddev_g ** 2 for c in group) + s.measurement_floor_g ** 2
        priors = self.planogram.priors([c.slot for c in group], put=delta > 0)
        prior = np.array([priors[sku] for sku in self._skus])
        prior_total = float(prior.sum())
        variance = self._variance_g2 + measurement_var
        log_terms = (np.log(prior / prior_total)[:, None] + self._log_quantity_prior
                     - 0.5 * (magnitude - self._mean_g) ** 2 / variance
                     - 0.5 * np.log(2 * math.pi * variance))
        log_unknown = math.log(s.unknown_prior) - math.log(s.unknown_range_g)
        top = max(float(log_terms.max()), log_unknown)
        terms = np.exp(log_terms - top)
        unknown = math.exp(log_unknown - top)
        normaliser = float(terms.sum()) + unknown
        # One item across n plates: the split of its weight over them is free (uniform).
        split_density = -(len(group) - 1) * math.log(max(magnitude, s.measurement_floor_g))
        log_evidence = top + math.log(normaliser) + split_density
        posterior = terms / normaliser
        unknown_probability = unknown / normaliser
        order = np.argsort(posterior, axis=None)[::-1][:s.max_candidates]
        candidates = []
        for flat in order:
            product, quantity = np.unravel_index(flat, posterior.shape)
            probability = float(posterior[product, quantity])
            if probability < s.min_probability:
                break
            candidates.append(Candidate(self._skus[product], int(quantity) + 1, probability))
        anomaly = not candidates or unknown_probability >= candidates[0].probability
        return _Scored(log_evidence=log_evidence,
                       candidates=() if anomaly else tuple(candidates),
                       unknown_probability=unknown_probability)


def _set_partitions(items: list) -> Iterator[list[list]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in _set_partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1:]]
