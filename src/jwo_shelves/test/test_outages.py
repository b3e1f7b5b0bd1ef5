"""Outages from a shelf's cell health: one OUTAGE when cells start failing (dated from their
last usable reading), one RESTORED when they read again, nothing while nothing changes."""

import numpy as np

from jwo_shelves.health import HealthSettings, StreamHealth
from jwo_shelves.outages import OutageWatch
from jwo_shelves.shelf_monitor import EventKind

RATE_HZ = 60.0
SECOND_NS = 1_000_000_000


def readings(seconds: float, frozen: tuple[float, float], dead: tuple[float, float]):
    """Plate a_1 repeats one value during `frozen`; a_2 reads NaN during `dead` (seconds)."""
    rng = np.random.default_rng(3)
    t = np.arange(round(seconds * RATE_HZ)) / RATE_HZ
    grams = np.column_stack([1000 + rng.normal(0, 1.0, t.size), 500 + rng.normal(0, 1.0, t.size)])
    grams[(t >= frozen[0]) & (t < frozen[1]), 0] = 1000.25
    grams[(t >= dead[0]) & (t < dead[1]), 1] = np.nan
    return t, grams


def test_failing_cells_open_an_outage_and_close_it_when_they_read_again():
    health = StreamHealth(['a_1', 'a_2'], RATE_HZ, HealthSettings(dead_after_s=1.0,
                                                                  stuck_after_s=3.0))
    watch = OutageWatch('shelf_a')
    t, grams = readings(20.0, frozen=(4.0, 12.0), dead=(6.0, 9.0))
    events = []
    for second in range(20):
        rows = (t >= second) & (t < second + 1)
        health.add((t[rows] * SECOND_NS).astype(np.int64), grams[rows])
        events += [(second + 1, e) for e in watch.update(health.report((second + 1) * SECOND_NS),
                                                         (second + 1) * SECOND_NS)]
    summary = [(at_s, e.kind, e.slot_ids, round(e.started_ns / SECOND_NS, 2))
               for at_s, e in events]
    # Each report covers the second before it. a_2's last reading was at 5.98 s: dead in
    # the report at 7 s, reading again in the one at 10 s. a_1 has repeated itself since
    # 4 s: stuck once that lasted 3 s (report at 8 s), changing again in the one at 13 s.
    assert summary == [(7, EventKind.OUTAGE, ('a_2',), 5.98),
                       (8, EventKind.OUTAGE, ('a_1',), 4.0),
                       (10, EventKind.RESTORED, ('a_2',), 5.98),
                       (13, EventKind.RESTORED, ('a_1',), 4.0)]
    assert all(e.settled_ns == at_s * SECOND_NS and e.candidates == () for at_s, e in events)
    assert len({e.event_id for _, e in events}) == 4
    assert watch.failing_slots == set()
