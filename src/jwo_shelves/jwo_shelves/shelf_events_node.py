"""Pick/put events of many shelves in one node: `/shelves/<shelf>/load_cells` ->
`/shelves/events`.

Each shelf's batches go through its own `ShelfMonitor` (settling detector, then
identification against the planogram). Events are published reliably with every
(product, quantity) candidate and its probability. A change that matches no product is an
ANOMALY event plus a loss-prevention StoreAlert on `/store/alerts`. `/diagnostics`
reports each shelf's stream (rate, missing readings, dead and stuck cells) and how many
events it produced; a cell that turns dead or stuck also raises one SENSOR StoreAlert
(again only after it has recovered in between), and OUTAGE / RESTORED shelf events say
which slots cannot be weighed and since when.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node

from jwo_common.frames import shelf_frame
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import EVENTS, SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import load_store_config
from jwo_interfaces.msg import LoadCellReadings, ShelfEvent, StoreAlert
from jwo_shelves.health import HealthSettings, StreamHealth, StreamReport
from jwo_shelves.identification import IdentificationSettings
from jwo_shelves.messages import (anomaly_alert, readings_grams, sensor_alert, shelf_event,
                                  stream_statuses, to_ns)
from jwo_shelves.outages import OutageWatch
from jwo_shelves.planogram import ShelfPlanogram
from jwo_shelves.shelf_monitor import EventKind, ShelfMonitor
from jwo_shelves.weight_events import DetectorSettings


@dataclass(frozen=True)
class ShelfEventsSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    shelves: list[str] = param([], 'Shelves to watch; empty = every shelf of the store',
                               read_only=True)
    qos: str = param('reliable', 'QoS of the load-cell subscriptions', read_only=True,
                     choices=SENSOR_QOS_CHOICES)
    queue_depth: int = param(300, 'Load-cell messages queued while this node is busy; a '
                             'message dropped from a full queue loses weight samples, and with '
                             'them picks', read_only=True, min_value=1, max_value=100_000)
    window_s: float = param(0.5, 'Moving-variance and settling window', read_only=True,
                            min_value=0.1, max_value=5.0)
    min_delta_g: float = param(10.0, 'Smaller settled weight changes are not events',
                               read_only=True, min_value=1.0, max_value=1000.0)
    max_quantity: int = param(12, 'Most units of one product considered in one event',
                              read_only=True, min_value=1, max_value=100)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        read_only=True, min_value=0.1, max_value=60.0)
    dead_after_s: float = param(1.0, 'A cell with no valid reading this long is dead',
                                read_only=True, min_value=0.1, max_value=600.0)
    stuck_after_s: float = param(5.0, 'A cell repeating the identical reading this long is '
                                 'stuck', read_only=True, min_value=0.5, max_value=3600.0)


@dataclass
class _Shelf:
    monitor: ShelfMonitor
    health: StreamHealth
    frame_id: str
    outages: OutageWatch
    events: dict[EventKind, int]
    rejected_messages: int = 0
    failing_cells: set[str] = field(default_factory=set)   # dead or stuck, alert sent


class ShelfEventsNode(Node):
    def __init__(self, **kwargs):
        super().__init__('shelf_events', **kwargs)
        settings = declare_settings(self, ShelfEventsSettings)
        config = load_store_config(settings.store_config)
        known = [s.id for s in config.shelves]
        unknown = [s for s in settings.shelves if s not in known]
        if unknown:
            raise ValueError(f'parameter shelves: unknown shelf id(s) {unknown} (store has '
                             f'{known})')
        detector = DetectorSettings(window_s=settings.window_s, min_delta_g=settings.min_delta_g)
        identification = IdentificationSettings(max_quantity=settings.max_quantity)
        health = HealthSettings(dead_after_s=settings.dead_after_s,
                                stuck_after_s=settings.stuck_after_s)
        now_ns = self.get_clock().now().nanoseconds
        self._shelves: dict[str, _Shelf] = {}
        qos = sensor_qos(settings.qos, settings.queue_depth)
        for shelf_id in settings.shelves or known:
            shelf = config.shelf(shelf_id)
            planogram = ShelfPlanogram.from_config(config, shelf_id)
            self._shelves[shelf_id] = _Shelf(
                monitor=ShelfMonitor(planogram, detector, identification),
                health=StreamHealth(planogram.slot_ids, shelf.load_cells.sample_rate_hz, health,
                                    started_ns=now_ns),
                frame_id=shelf_frame(shelf_id), outages=OutageWatch(shelf_id),
                events=dict.fromkeys(EventKind, 0))
            self.create_subscription(
                LoadCellReadings, f'/shelves/{shelf_id}/load_cells',
                lambda msg, shelf_id=shelf_id: self._on_readings(shelf_id, msg), qos)
        self._events = self.create_publisher(ShelfEvent, '/shelves/events', EVENTS)
        self._alerts = self.create_publisher(StoreAlert, '/store/alerts', EVENTS)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f'watching {len(self._shelves)} shelves of store {config.store.id}')

    def _on_readings(self, shelf_id: str, msg: LoadCellReadings) -> None:
        shelf = self._shelves[shelf_id]
        try:
            grams = readings_grams(msg)
            if not msg.sample_rate_hz > 0:
                raise ValueError(f'{shelf_id}: sample_rate_hz must be > 0, got '
                                 f'{msg.sample_rate_hz}')
        except ValueError as error:
            shelf.rejected_messages += 1
            self.get_logger().warning(f'dropped load-cell message: {error}',
                                      throttle_duration_sec=10.0)
            return
        start_ns = to_ns(msg.header.stamp)
        monitor = shelf.monitor
        ordered = monitor.to_plate_order(msg.slot_ids, grams)
        shelf.health.add(start_ns + np.round(np.arange(msg.sample_count) * 1e9 /
                                             msg.sample_rate_hz).astype(np.int64), ordered)
        for event in monitor.process(monitor.planogram.slot_ids, start_ns, msg.sample_rate_hz,
                                     ordered):
            shelf.events[event.kind] += 1
            self._events.publish(shelf_event(event, shelf.frame_id))
            if event.kind == EventKind.ANOMALY:
                self._alerts.publish(anomaly_alert(event, self.get_fully_qualified_name()))
                self.get_logger().warning(f'anomaly {event.event_id}: {event.delta_g:+.0f} g')

    def _publish_diagnostics(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        statuses = []
        for shelf_id, shelf in self._shelves.items():
            values = {f'{kind.name.lower()}_events': count for kind, count in shelf.events.items()}
            values['rejected_messages'] = shelf.rejected_messages
            if shelf.monitor.ignored_slot_ids:
                values['unknown_slots'] = ','.join(sorted(shelf.monitor.ignored_slot_ids))
            report = shelf.health.report(now_ns)
            self._alert_failing_cells(shelf_id, shelf, report, now_ns)
            for event in shelf.outages.update(report, now_ns):
                shelf.events[event.kind] += 1
                self._events.publish(shelf_event(event, shelf.frame_id))
            statuses += stream_statuses(report, f'jwo_shelves: events {shelf_id}', shelf_id,
                                        values)
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def _alert_failing_cells(self, shelf_id: str, shelf: _Shelf, report: StreamReport,
                             now_ns: int) -> None:
        failing = {c.name: c for c in report.channels
                   if c.name in report.dead or c.name in report.stuck}
        for name in sorted(failing.keys() - shelf.failing_cells):
            alert = sensor_alert(shelf_id, failing[name], self.get_fully_qualified_name(), now_ns)
            self._alerts.publish(alert)
            self.get_logger().warning(alert.description)
        shelf.failing_cells = set(failing)


def main(args=None):
    run_node(ShelfEventsNode, args)


if __name__ == '__main__':
    main()
