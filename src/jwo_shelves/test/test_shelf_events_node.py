"""The shelf event node over real rclpy: load-cell messages in, events, alerts and
diagnostics out, with a dead, a stuck and a NaN-emitting cell on the shelf."""

from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from jwo_common.qos import EVENTS, sensor_qos
from jwo_common.testing import spin_until
from jwo_interfaces.msg import LoadCellReadings, ShelfEvent, StoreAlert
from jwo_shelves.messages import load_cell_readings
from jwo_shelves.shelf_events_node import ShelfEventsNode

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
RATE_HZ = 60.0
# shelf_b: b_11 CHOC-100, b_12 CHOC-110, b_13 CRISPS-6, b_14 PARACET-16 on the lower level,
# b_21 COLA-500, b_22 WATER-750, b_23 ALE-500, b_24 WINE-750 above.
WEIGHT_KINDS = (ShelfEvent.PICK, ShelfEvent.PUT, ShelfEvent.ANOMALY)
SLOTS = ['b_11', 'b_12', 'b_13', 'b_14', 'b_21', 'b_22', 'b_23', 'b_24']


def shelf_b_signal(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(42)
    n = round(seconds * RATE_HZ)
    grams = np.array([800, 900, 1200, 300, 2100, 2300, 2400, 3900.0]) + rng.normal(0, 0.8, (n, 8))
    grams[:, 0] = np.nan                                   # b_11 dead
    grams[:, 1] = 904.5                                    # b_12 stuck
    grams[rng.random(n) < 0.1, 2] = np.nan                 # b_13 drops 10 % of its readings
    t = np.arange(n) / RATE_HZ
    grams[t >= 2.0, 2] -= 172                              # a bag of crisps taken from b_13
    grams[t >= 3.0, 4] += 530                              # a cola put back on b_21
    grams[t >= 5.0, 7] += 1500                             # something nobody sells, on b_24
    leaning = (t >= 4.0) & (t < 4.6)                       # a hand pressing on b_22
    grams[leaning, 5] += 250 * np.sin(np.pi * (t[leaning] - 4.0) / 0.6)
    return grams.astype(np.float32)


@pytest.fixture
def rig():
    context = rclpy.Context()
    rclpy.init(context=context)
    node = ShelfEventsNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(STORE)), Parameter('shelves', value=['shelf_b']),
        Parameter('diagnostics_period_s', value=0.5), Parameter('stuck_after_s', value=2.0)])
    probe = rclpy.create_node('probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe)
    try:
        yield node, probe, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        context.try_shutdown()


def test_events_alerts_and_failing_cells(rig):
    node, probe, executor = rig
    events, alerts, diagnostics = [], [], []
    probe.create_subscription(ShelfEvent, '/shelves/events', events.append, EVENTS)
    probe.create_subscription(StoreAlert, '/store/alerts', alerts.append, EVENTS)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 100)
    publisher = probe.create_publisher(LoadCellReadings, '/shelves/shelf_b/load_cells', 10)
    spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10, 'the node')
    processed = node._shelves['shelf_b'].health

    broken = LoadCellReadings(shelf_id='shelf_b', slot_ids=SLOTS, sample_count=3,
                              sample_rate_hz=RATE_HZ, grams=[1.0] * 5)
    publisher.publish(broken)
    spin_until(executor, lambda: node._shelves['shelf_b'].rejected_messages == 1, 10,
               'the malformed message to be rejected')

    grams = shelf_b_signal(8.0)
    start_ns = 1_000_000_000_000
    for first in range(0, len(grams), 6):
        publisher.publish(load_cell_readings('shelf_b', 'shelf_b_link', SLOTS, RATE_HZ,
                                             start_ns + round(first * 1e9 / RATE_HZ),
                                             grams[first:first + 6]))
        spin_until(executor, lambda: processed.total_samples >= first + 6, 10,
                   f'the node to take samples {first}..{first + 5}')
    def weight_events():
        return [e for e in events if e.kind in WEIGHT_KINDS]
    spin_until(executor, lambda: len(weight_events()) >= 3 and alerts, 10,
               'three events and an alert')

    summary = [(list(e.slot_ids), e.kind) for e in weight_events()]
    assert summary == [(['b_13'], ShelfEvent.PICK), (['b_21'], ShelfEvent.PUT),
                       (['b_24'], ShelfEvent.ANOMALY)]
    pick, put, anomaly = weight_events()
    assert (pick.candidates[0].sku, pick.candidates[0].quantity) == ('GB-CRISPS-6', 1)
    assert pick.delta_grams == pytest.approx(-172, abs=2)
    assert put.candidates[0].sku == 'GB-COLA-500'
    assert sum(c.probability for c in put.candidates) <= 1.0 + 1e-9
    assert anomaly.candidates == [] and anomaly.delta_grams == pytest.approx(1500, abs=2)
    assert pick.header.frame_id == 'shelf_b_link'
    settled_s = (pick.header.stamp.sec * 1e9 + pick.header.stamp.nanosec - start_ns) / 1e9
    assert 2.0 <= settled_s <= 2.2
    loss = [a for a in alerts if a.kind == StoreAlert.LOSS_PREVENTION]
    assert len(loss) == 1 and anomaly.event_id in loss[0].refs

    def failing_cells_reported():
        for array in diagnostics:
            shelf = next((s for s in array.status if s.name == 'jwo_shelves: events shelf_b'),
                         None)
            values = {kv.key: kv.value for kv in shelf.values} if shelf else {}
            if values.get('dead') == 'b_11' and values.get('stuck') == 'b_12':
                return True
        return False
    spin_until(executor, failing_cells_reported, 10, 'diagnostics naming the dead and stuck cells')
    lossy = [s for a in diagnostics for s in a.status if s.name.endswith('shelf_b/b_13')]
    assert any(s.level == b'\x01' and 'missing' in s.message for s in lossy)

    def sensor_alerts():
        return sorted((list(a.refs), a.description.split()[3]) for a in alerts
                      if a.kind == StoreAlert.SENSOR)
    spin_until(executor, lambda: len(sensor_alerts()) >= 2, 10, 'dead and stuck cell alerts')
    assert sensor_alerts() == [(['shelf_b', 'b_11'], 'dead:'), (['shelf_b', 'b_12'], 'stuck:')]
    # The slots of the failed cells cannot be weighed: an outage each, from its last
    # usable reading (b_11 never gave one; b_12 repeated 904.5 g from the start).
    outages = [e for e in events if e.kind == ShelfEvent.OUTAGE]
    assert sorted(slot for e in outages for slot in e.slot_ids) == ['b_11', 'b_12']
    assert all(e.started.sec * 10**9 + e.started.nanosec == start_ns for e in outages)
    assert all(e.header.frame_id == 'shelf_b_link' and not e.candidates for e in outages)
    # Once per failure, not once per diagnostics period.
    periods = len(diagnostics)
    spin_until(executor, lambda: len(diagnostics) >= periods + 2, 10, 'two more periods')
    assert len(sensor_alerts()) == 2


def test_readings_that_arrive_while_the_node_is_busy_are_queued_not_dropped(rig):
    node, probe, executor = rig
    events = []
    probe.create_subscription(ShelfEvent, '/shelves/events', events.append, EVENTS)
    publisher = probe.create_publisher(LoadCellReadings, '/shelves/shelf_b/load_cells',
                                       sensor_qos('reliable', depth=1000))
    spin_until(executor, lambda: publisher.get_subscription_count() > 0, 10, 'the node')
    grams = shelf_b_signal(8.0)
    # 8 s of readings (80 messages) arrive while the executor does not spin, as when a
    # process is starved of CPU for a moment; the node must still see every sample.
    for first in range(0, len(grams), 6):
        publisher.publish(load_cell_readings('shelf_b', 'shelf_b_link', SLOTS, RATE_HZ,
                                             10**12 + round(first * 1e9 / RATE_HZ),
                                             grams[first:first + 6]))
    processed = node._shelves['shelf_b'].health
    spin_until(executor, lambda: processed.total_samples >= len(grams), 10, 'every sample')
    spin_until(executor, lambda: sum(e.kind in WEIGHT_KINDS for e in events) >= 3, 10,
               'the three events')
    assert [e.kind for e in events if e.kind in WEIGHT_KINDS] == list(WEIGHT_KINDS)
