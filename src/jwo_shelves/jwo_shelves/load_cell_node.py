"""Load-cell driver of one shelf: the board's serial stream -> `/shelves/<shelf>/load_cells`.

With a serial port (the line protocol is in `jwo_shelves.serial_protocol`) it reads the
board without blocking every `batch_period_s`, converts counts to grams with the shelf's
calibration and publishes one LoadCellReadings per period. Services
`/shelves/<shelf>/tare` and `/shelves/<shelf>/calibrate` (std_srvs/Trigger) set zero
and span from the last half second of readings and save the calibration file.

With port 'playback' a bag or the simulator publishes the topic; the node then only
watches it and reports its health.

Either way `/diagnostics` carries the stream's rate, missing readings, lost and malformed
lines, and dead or stuck cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from std_srvs.srv import Trigger

from jwo_common.frames import shelf_frame
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import load_store_config
from jwo_interfaces.msg import LoadCellReadings
from jwo_shelves.calibration import (CalibrationError, load_calibration, save_calibration)
from jwo_shelves.health import HealthSettings, StreamHealth
from jwo_shelves.load_cell_board import BoardBatcher
from jwo_shelves.messages import load_cell_readings, readings_grams, stream_statuses, to_ns
from jwo_shelves.serial_protocol import SerialLines

PLAYBACK = 'playback'


@dataclass(frozen=True)
class LoadCellSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    shelf_id: str = param('', 'Shelf whose load-cell board this node reads', read_only=True)
    port: str = param('', "Serial device or 'playback'; empty = load_cells.port of the shelf",
                      read_only=True)
    baud_rate: int = param(115200, 'Serial baud rate', read_only=True,
                           min_value=1200, max_value=4_000_000)
    calibration_file: str = param('', 'Calibration YAML; empty = calibration/<shelf_id>.yaml '
                                  'beside the store config', read_only=True)
    calibration_weight_g: float = param(1000.0, 'Reference weight the calibrate service '
                                        'expects on the plates being calibrated',
                                        min_value=1.0, max_value=100_000.0)
    min_span_counts: float = param(100.0, 'A channel is loaded for calibration when its '
                                   'reading moved this many counts from its zero',
                                   min_value=1.0, max_value=1e9)
    batch_period_s: float = param(0.1, 'Seconds of samples per published message',
                                  read_only=True, min_value=0.02, max_value=1.0)
    qos: str = param('reliable', 'QoS of the load-cell topic', read_only=True,
                     choices=SENSOR_QOS_CHOICES)
    queue_depth: int = param(300, 'Load-cell messages queued while this node is busy; a '
                             'message dropped from a full queue loses weight samples, and with '
                             'them picks', read_only=True, min_value=1, max_value=100_000)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        read_only=True, min_value=0.1, max_value=60.0)
    dead_after_s: float = param(1.0, 'A cell with no valid reading this long is dead',
                                read_only=True, min_value=0.1, max_value=600.0)
    stuck_after_s: float = param(5.0, 'A cell repeating the identical reading this long is '
                                 'stuck', read_only=True, min_value=0.5, max_value=3600.0)


class LoadCellNode(Node):
    def __init__(self, **kwargs):
        super().__init__('load_cells', **kwargs)
        settings = declare_settings(self, LoadCellSettings, self._on_settings)
        self._settings = settings
        config = load_store_config(settings.store_config)
        if not settings.shelf_id:
            raise ValueError('parameter shelf_id is required (one of '
                             f'{[s.id for s in config.shelves]})')
        try:
            shelf = config.shelf(settings.shelf_id)
        except StopIteration:
            raise ValueError(f'{settings.store_config}: no shelf {settings.shelf_id!r}') from None
        self._shelf = shelf
        slots = sorted(shelf.slots, key=lambda s: s.channel)
        self._slot_ids = [s.id for s in slots]
        self._frame_id = shelf_frame(shelf.id)
        self._port = settings.port or shelf.load_cells.port
        self._health = StreamHealth(self._slot_ids, shelf.load_cells.sample_rate_hz,
                                    HealthSettings(dead_after_s=settings.dead_after_s,
                                                   stuck_after_s=settings.stuck_after_s),
                                    started_ns=self._now_ns())
        topic = f'/shelves/{shelf.id}/load_cells'
        qos = sensor_qos(settings.qos, settings.queue_depth)
        self._serial: SerialLines | None = None
        self._board: BoardBatcher | None = None
        if self._port == PLAYBACK:
            self.create_subscription(LoadCellReadings, topic, self._on_playback, qos)
        else:
            self._calibration_path = Path(settings.calibration_file) if settings.calibration_file \
                else config.resolve_path(f'calibration/{shelf.id}.yaml')
            try:
                calibration = load_calibration(self._calibration_path)
            except CalibrationError as error:
                raise ValueError(str(error)) from None
            self._board = BoardBatcher([s.channel for s in slots], shelf.load_cells.sample_rate_hz,
                                       calibration,
                                       recent_samples=round(shelf.load_cells.sample_rate_hz / 2))
            self._serial = SerialLines(self._port, settings.baud_rate)
            if not self._serial.open(self._now_ns() / 1e9):
                self.get_logger().error(f'{self._serial.error}; retrying')
            self._publisher = self.create_publisher(LoadCellReadings, topic, qos)
            self.create_timer(settings.batch_period_s, self._read_board)
        self.create_service(Trigger, f'/shelves/{shelf.id}/tare', self._on_tare)
        self.create_service(Trigger, f'/shelves/{shelf.id}/calibrate', self._on_calibrate)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f'shelf {shelf.id}: {len(slots)} load cells on {self._port}')

    def _on_settings(self, settings: LoadCellSettings) -> None:
        self._settings = settings

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    # ---- serial board
    def _read_board(self) -> None:
        now_ns = self._now_ns()
        lines = self._serial.poll(now_ns / 1e9)
        rate_hz = self._shelf.load_cells.sample_rate_hz
        for batch in self._board.add_lines(lines, now_ns):
            count = batch.grams.shape[0]
            self._health.add(batch.start_ns + np.round(np.arange(count) * 1e9 / rate_hz)
                             .astype(np.int64), batch.grams)
            self._publisher.publish(load_cell_readings(self._shelf.id, self._frame_id,
                                                       self._slot_ids, rate_hz,
                                                       batch.start_ns, batch.grams))

    def _on_tare(self, request: Trigger.Request, response: Trigger.Response):
        return self._update_calibration(response, tare=True)

    def _on_calibrate(self, request: Trigger.Request, response: Trigger.Response):
        return self._update_calibration(response, tare=False)

    def _update_calibration(self, response: Trigger.Response, tare: bool) -> Trigger.Response:
        if self._board is None:
            response.success = False
            response.message = 'playback: there is no board to calibrate'
            return response
        counts = self._board.recent_mean_counts()
        try:
            if tare:
                calibration, channels = self._board.calibration.tared(counts), sorted(counts)
            else:
                calibration, channels = self._board.calibration.spanned(
                    counts, self._settings.calibration_weight_g, self._settings.min_span_counts)
            save_calibration(self._calibration_path, calibration, self._shelf.id)
        except (CalibrationError, OSError) as error:
            response.success = False
            response.message = str(error)
            return response
        self._board.calibration = calibration
        response.success = True
        response.message = (f'{"tared" if tare else "calibrated"} channel(s) {channels}; saved '
                            f'{self._calibration_path}')
        self.get_logger().info(response.message)
        return response

    # ---- playback
    def _on_playback(self, msg: LoadCellReadings) -> None:
        try:
            grams = readings_grams(msg)
        except ValueError as error:
            self.get_logger().warning(str(error), throttle_duration_sec=10.0)
            return
        columns = {slot_id: i for i, slot_id in enumerate(msg.slot_ids)}
        ordered = np.full((grams.shape[0], len(self._slot_ids)), np.nan)
        for target, slot_id in enumerate(self._slot_ids):
            if slot_id in columns:
                ordered[:, target] = grams[:, columns[slot_id]]
        start_ns = to_ns(msg.header.stamp)
        rate_hz = msg.sample_rate_hz if msg.sample_rate_hz > 0 else \
            self._shelf.load_cells.sample_rate_hz
        self._health.add(start_ns + np.round(np.arange(grams.shape[0]) * 1e9 / rate_hz)
                         .astype(np.int64), ordered)

    # ---- diagnostics
    def _publish_diagnostics(self) -> None:
        now_ns = self._now_ns()
        report = self._health.report(now_ns)
        values: dict[str, object] = {'port': self._port}
        if self._board is not None:
            values.update(lost_lines=self._board.lost_lines,
                          malformed_lines=self._board.malformed_lines,
                          calibration_file=self._calibration_path)
        statuses = stream_statuses(report, f'jwo_shelves: load cells {self._shelf.id}',
                                   self._port, values)
        if self._serial is not None and self._serial.error:
            statuses[0].level = DiagnosticStatus.ERROR
            statuses[0].message = f'{self._serial.error}; {statuses[0].message}'
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)

    def destroy_node(self):
        if self._serial is not None:
            self._serial.close()
        return super().destroy_node()


def main(args=None):
    run_node(LoadCellNode, args)


if __name__ == '__main__':
    main()
