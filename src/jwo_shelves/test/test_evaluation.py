"""Scoring detections against ground truth, on hand-made events."""

import pytest

from jwo_shelves.evaluation import Detection, TrueEvent, score
from jwo_shelves.identification import Candidate
from jwo_shelves.shelf_monitor import EventKind, ShelfEventData

S = 1_000_000_000


def detected(slot: str, settled_s: float, kind: EventKind, sku: str | None = None,
             quantity: int = 1, delta_g: float = -100.0, shelf: str = 'shelf_a') -> Detection:
    candidates = (Candidate(sku, quantity, 0.9),) if sku else ()
    event = ShelfEventData(event_id=f'{slot}-{settled_s}', shelf_id=shelf, slot_ids=(slot,),
                           kind=kind, started_ns=round((settled_s - 1) * S),
                           settled_ns=round(settled_s * S),
                           detected_ns=round((settled_s + .5) * S),
                           delta_g=delta_g, plate_deltas_g=(delta_g,), candidates=candidates,
                           unknown_probability=0.0)
    return Detection(event, published_ns=round((settled_s + 0.6) * S))


def truth(slot: str, settled_s: float, kind: EventKind, sku: str | None = 'MILK',
          quantity: int = 1, shelf: str = 'shelf_a') -> TrueEvent:
    return TrueEvent(shelf, (slot,), kind, sku, quantity, round(settled_s * S))


def test_perfect_detection_scores_one():
    truths = [truth('a_11', 3.0, EventKind.PICK), truth('a_12', 5.0, EventKind.PUT, 'TEA', 2)]
    result = score(truths, [detected('a_11', 3.1, EventKind.PICK, 'MILK'),
                            detected('a_12', 5.0, EventKind.PUT, 'TEA', 2, delta_g=524)])
    assert (result.precision, result.recall, result.f1) == (1.0, 1.0, 1.0)
    assert result.identification_accuracy == 1.0
    assert result.latencies_s == pytest.approx((0.6, 0.6), abs=0.11)


def test_latency_counts_from_the_first_reading_when_the_cells_dropped_out_at_the_settle():
    # The weight settled at 3.0 s while the plate read NaN; it was read again at 3.4 s.
    dropped = TrueEvent('shelf_a', ('a_11',), EventKind.PICK, 'MILK', 1, 3 * S,
                        seen_ns=round(3.4 * S))
    result = score([dropped], [detected('a_11', 3.4, EventKind.PICK, 'MILK')])
    assert result.latencies_s == pytest.approx((0.6,))


def test_misses_false_alarms_and_wrong_items_are_counted():
    truths = [truth('a_11', 3.0, EventKind.PICK), truth('a_13', 9.0, EventKind.PICK, 'BREAD'),
              truth('a_14', 12.0, EventKind.ANOMALY, None)]
    detections = [
        detected('a_11', 3.0, EventKind.PICK, 'MILK', quantity=2),     # wrong quantity
        detected('a_12', 3.0, EventKind.PICK, 'MILK'),                 # another plate: false
        detected('a_13', 9.0, EventKind.PUT, 'BREAD', delta_g=812),     # wrong way: false
        detected('a_14', 12.2, EventKind.ANOMALY, delta_g=300),         # right anomaly
        detected('a_11', 30.0, EventKind.PICK, 'MILK'),                # long after: false
    ]
    result = score(truths, detections)
    assert (result.matched, result.detected, result.true_events) == (2, 5, 3)
    assert result.precision == pytest.approx(2 / 5)
    assert result.recall == pytest.approx(2 / 3)
    assert result.identified == 1
    assert result.identification_accuracy == pytest.approx(1 / 3)


def test_each_detection_matches_one_true_event_at_most():
    truths = [truth('a_11', 3.0, EventKind.PICK), truth('a_11', 3.5, EventKind.PICK)]
    result = score(truths, [detected('a_11', 3.4, EventKind.PICK, 'MILK')])
    assert (result.matched, result.recall) == (1, 0.5)


def test_other_shelves_never_match_and_empty_input_scores_cleanly():
    result = score([truth('a_11', 3.0, EventKind.PICK, shelf='shelf_b')],
                   [detected('a_11', 3.0, EventKind.PICK, 'MILK')])
    assert result.matched == 0 and result.f1 == 0.0
    empty = score([], [])
    assert (empty.f1, empty.identification_accuracy) == (1.0, 1.0)
