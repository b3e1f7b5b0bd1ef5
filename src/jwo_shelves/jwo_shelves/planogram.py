"""What each plate of a shelf should hold, which plates touch, and how likely each product
is to be the one that moved on given plates.

The planogram (from the store config) says which product belongs on each plate. Shoppers
also put things back in the wrong place; once such a misplaced item is identified it is
remembered on its plate, so that taking it again later is expected rather than surprising.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jwo_common.store_config import StoreConfig

# Plates on one shelf level closer than this (edge to edge) touch: an item can span them.
_TOUCH_TOLERANCE_M = 0.02
_SAME_LEVEL_TOLERANCE_M = 0.05


@dataclass(frozen=True)
class ProductWeight:
    sku: str
    unit_weight_g: float
    stddev_g: float


@dataclass(frozen=True)
class PlateLayout:
    slot_id: str
    product: str          # SKU the planogram puts here
    x_m: float
    z_m: float
    width_m: float


@dataclass(frozen=True)
class PriorSettings:
    """Relative prior weight of a product being the one that moved, by where it belongs."""

    on_plate: float = 1.0          # planned on the event's plates, or seen misplaced there
    neighbour: float = 0.05        # planned on a touching plate
    same_shelf: float = 0.01       # planned elsewhere on this shelf
    elsewhere: float = 0.002       # any other product of the store (a misplaced return)
    # A put returns whatever the shopper carries, which may come from anywhere in the store:
    # this share of puts, relative to on_plate, is spread evenly over the products that do
    # not belong on the plate. A pick can only take what lies there, so it has no such share.
    misplaced_put: float = 0.1


class ShelfPlanogram:
    """The planogram of one shelf plus the misplaced items seen on its plates."""

    def __init__(self, shelf_id: str, plates: Sequence[PlateLayout],
                 products: Iterable[ProductWeight], priors: PriorSettings = PriorSettings()):
        self.shelf_id = shelf_id
        self.plates = tuple(plates)
        self.products = {p.sku: p for p in products}
        self.prior_settings = priors
        for plate in self.plates:
            if plate.product not in self.products:
                raise ValueError(f'shelf {shelf_id}: slot {plate.slot_id}: unknown product '
                                 f'{plate.product!r}')
        self.adjacent = tuple(
            tuple(j for j, other in enumerate(self.plates) if j != i and _touch(plate, other))
            for i, plate in enumerate(self.plates))
        self._misplaced = [Counter() for _ in self.plates]

    @classmethod
    def from_config(cls, config: StoreConfig, shelf_id: str,
                    priors: PriorSettings = PriorSettings()) -> ShelfPlanogram:
        shelf = config.shelf(shelf_id)
        plates = [PlateLayout(slot_id=s.id, product=s.product, x_m=s.x_m, z_m=s.z_m,
                              width_m=s.width_m)
                  for s in sorted(shelf.slots, key=lambda s: s.channel)]
        products = [ProductWeight(p.sku, p.unit_weight_g, p.weight_stddev_g)
                    for p in config.products]
        return cls(shelf_id, plates, products, priors)

    @property
    def slot_ids(self) -> tuple[str, ...]:
        return tuple(p.slot_id for p in self.plates)

    def priors(self, slots: Sequence[int], put: bool = False) -> dict[str, float]:
        """Prior weight (not normalised) of every product for a change on `slots`; `put`
        when weight was added."""
        s = self.prior_settings
        weights = dict.fromkeys(self.products, s.elsewhere)
        for plate in self.plates:
            weights[plate.product] = max(weights[plate.product], s.same_shelf)
        for slot in slots:
            for neighbour in self.adjacent[slot]:
                product = self.plates[neighbour].product
                weights[product] = max(weights[product], s.neighbour)
        for slot in slots:
            weights[self.plates[slot].product] = s.on_plate
            for sku in self._misplaced[slot]:
                weights[sku] = s.on_plate
        if put:
            foreign = [sku for sku, weight in weights.items() if weight < s.on_plate]
            share = s.on_plate * s.misplaced_put / max(1, len(foreign))
            for sku in foreign:
                weights[sku] = max(weights[sku], share)
        return weights

    def misplaced(self, slot: int) -> dict[str, int]:
        return dict(self._misplaced[slot])

    def record(self, slot: int, sku: str, quantity: int) -> None:
        """Remembers an identified change: +quantity put on `slot`, -quantity taken from it.

        Only items that do not belong on the plate are counted; the planned product's stock
        is not tracked (restocking is not seen as events)."""
        if sku == self.plates[slot].product:
            return
        counter = self._misplaced[slot]
        counter[sku] += quantity
        if counter[sku] <= 0:
            del counter[sku]


def _touch(a: PlateLayout, b: PlateLayout) -> bool:
    return abs(a.z_m - b.z_m) <= _SAME_LEVEL_TOLERANCE_M and \
        abs(a.x_m - b.x_m) <= (a.width_m + b.width_m) / 2 + _TOUCH_TOLERANCE_M
