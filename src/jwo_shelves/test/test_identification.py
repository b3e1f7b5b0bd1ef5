"""Identifying (product, quantity) from settled weight changes against a small planogram."""

import math

import pytest

from jwo_shelves.identification import IdentificationSettings, Identifier
from jwo_shelves.planogram import PlateLayout, ProductWeight, ShelfPlanogram
from jwo_shelves.weight_events import PlateChange, WeightEvent

PRODUCTS = [
    ProductWeight('CHOC-100', 104.0, 1.2),
    ProductWeight('CHOC-110', 108.0, 1.2),       # near-identical to its neighbour
    ProductWeight('SOUP', 455.0, 3.0),
    ProductWeight('BEANS', 470.0, 3.0),
    ProductWeight('COLA', 530.0, 4.0),
    ProductWeight('PARACET', 22.0, 0.6),
    ProductWeight('WINE', 1290.0, 12.0),         # not on this shelf at all
]
# One level, four plates side by side (0.5 m wide, touching), and one plate on a level above.
PLATES = [PlateLayout('p0', 'CHOC-100', 0.25, 0.9, 0.5),
          PlateLayout('p1', 'CHOC-110', 0.75, 0.9, 0.5),
          PlateLayout('p2', 'SOUP', 1.25, 0.9, 0.5),
          PlateLayout('p3', 'COLA', 1.75, 0.9, 0.5),
          PlateLayout('p4', 'PARACET', 0.25, 1.4, 0.5)]


def planogram() -> ShelfPlanogram:
    return ShelfPlanogram('shelf_t', PLATES, PRODUCTS)


def change(slot: int, delta_g: float, stddev_g: float = 0.3) -> PlateChange:
    return PlateChange(slot=slot, started_ns=1_000, settled_ns=2_000, detected_ns=3_000,
                       before_g=2000.0, after_g=2000.0 + delta_g, delta_stddev_g=stddev_g)


def identify(*changes: PlateChange, plan: ShelfPlanogram | None = None):
    return Identifier(plan or planogram()).identify(WeightEvent(tuple(changes)))


def test_touching_plates_come_from_the_layout():
    assert planogram().adjacent == ((1,), (0, 2), (1, 3), (2,), ())


def test_single_item_is_identified_with_its_probability():
    [result] = identify(change(2, -455.4))
    assert result.is_pick and not result.is_anomaly
    assert (result.candidates[0].sku, result.candidates[0].quantity) == ('SOUP', 1)
    assert result.candidates[0].probability > 0.95


def test_several_units_are_counted():
    [result] = identify(change(0, -3 * 104 - 1.0))
    assert (result.candidates[0].sku, result.candidates[0].quantity) == ('CHOC-100', 3)
    [result] = identify(change(4, 5 * 22 + 0.5))
    assert (result.candidates[0].sku, result.candidates[0].quantity) == ('PARACET', 5)


def test_near_identical_neighbours_are_told_apart_by_the_plate_and_both_are_listed():
    [on_p0] = identify(change(0, -106.0))
    [on_p1] = identify(change(1, -106.0))
    assert on_p0.candidates[0].sku == 'CHOC-100'
    assert on_p1.candidates[0].sku == 'CHOC-110'
    assert {c.sku for c in on_p0.candidates[:2]} == {'CHOC-100', 'CHOC-110'}
    total = sum(c.probability for c in on_p0.candidates) + on_p0.unknown_probability
    assert total == pytest.approx(1.0, abs=0.01)
    assert all(a.probability >= b.probability
               for a, b in zip(on_p0.candidates, on_p0.candidates[1:]))


def test_a_weight_no_product_explains_is_an_anomaly():
    [result] = identify(change(2, 1500.0))
    assert result.is_anomaly
    assert result.candidates == ()
    assert result.unknown_probability > 0.9


def test_an_item_across_two_plates_is_one_item():
    results = identify(change(2, -200.0), change(3, -330.0))
    assert len(results) == 1
    assert results[0].slots == (2, 3)
    assert results[0].candidates[0].sku == 'COLA'


def test_two_items_picked_at_once_from_touching_plates_stay_two_events():
    results = identify(change(1, -108.0), change(2, -455.0))
    assert [(r.slots, r.candidates[0].sku) for r in results] == [((1,), 'CHOC-110'),
                                                                  ((2,), 'SOUP')]


def test_a_misplaced_item_is_expected_when_it_is_taken_again():
    plan = planogram()
    identifier = Identifier(plan)
    [put] = identifier.identify(WeightEvent((change(3, 470.0),)))   # beans put on the cola plate
    assert put.candidates[0].sku == 'BEANS'
    before = put.candidates[0].probability
    plan.record(3, 'BEANS', 1)
    assert plan.misplaced(3) == {'BEANS': 1}
    [pick] = identifier.identify(WeightEvent((change(3, -470.0),)))
    assert pick.candidates[0].sku == 'BEANS'
    assert pick.candidates[0].probability > before
    plan.record(3, 'BEANS', -1)
    assert plan.misplaced(3) == {}


def test_a_product_from_elsewhere_in_the_store_can_be_put_back_here():
    [result] = identify(change(0, 1291.0))
    assert result.candidates[0].sku == 'WINE'


def test_a_put_may_be_anything_a_shopper_carries_but_a_pick_only_what_lies_there():
    # 466 g on the SOUP plate (455 g) is closer to BEANS (470 g, not on this shelf).
    [put] = identify(change(2, 466.0))
    [pick] = identify(change(2, -466.0))
    assert [c.sku for c in put.candidates[:2]] == ['BEANS', 'SOUP']
    assert [c.sku for c in pick.candidates[:2]] == ['SOUP', 'BEANS']


def test_candidates_are_bounded_and_settings_checked():
    [result] = Identifier(planogram(), IdentificationSettings(max_candidates=2)).identify(
        WeightEvent((change(0, -106.0),)))
    assert len(result.candidates) <= 2
    assert all(math.isfinite(c.probability) for c in result.candidates)
    with pytest.raises(ValueError, match='max_quantity'):
        IdentificationSettings(max_quantity=0)
    with pytest.raises(ValueError, match='unknown product'):
        ShelfPlanogram('s', [PlateLayout('x', 'NOPE', 0.25, 0.9, 0.5)], PRODUCTS)
