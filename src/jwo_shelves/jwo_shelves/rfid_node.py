"""RFID reader driver: tag reads from a serial reader -> `/rfid/<reader>/reads` (RfidRead).

The reader's line protocol is in `jwo_shelves.serial_protocol`. Reads are stamped with
the reader's clock when it sends one (anchored to the host clock by the least delayed
line), else with the host time the line was read. With port 'playback' a bag or the
simulator publishes the topic and the node only watches it. `/diagnostics` reports the
read rate, distinct tags, tags that match no product's EPC prefix in the store config,
malformed lines and whether the port is open.
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import load_store_config
from jwo_interfaces.msg import RfidRead
from jwo_shelves.messages import to_time
from jwo_shelves.serial_protocol import Malformed, SerialLines, TagRead, parse_tag_line

PLAYBACK = 'playback'
_REANCHOR_NS = 1_000_000_000


@dataclass(frozen=True)
class RfidSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    reader_id: str = param('exit_reader', 'Reader id: topic /rfid/<reader_id>/reads',
                           read_only=True)
    port: str = param(PLAYBACK, "Serial device, or 'playback'", read_only=True)
    baud_rate: int = param(115200, 'Serial baud rate', read_only=True,
                           min_value=1200, max_value=4_000_000)
    poll_period_s: float = param(0.05, 'Seconds between reads of the serial port',
                                 read_only=True, min_value=0.005, max_value=1.0)
    qos: str = param('reliable', 'QoS of the reads topic', read_only=True,
                     choices=SENSOR_QOS_CHOICES)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        read_only=True, min_value=0.1, max_value=60.0)


def antenna_frame(reader_id: str, antenna: int) -> str:
    return f'{reader_id}_antenna_{antenna}'


class ReaderClock:
    """Maps the reader's microsecond clock to host time (ns)."""

    def __init__(self):
        self._offset_ns: int | None = None
        self._last_us: int | None = None

    def observe(self, reader_time_us: int, host_now_ns: int) -> None:
        """A line stamped `reader_time_us` was read at or before `host_now_ns`."""
        offset_ns = host_now_ns - reader_time_us * 1000
        restarted = self._last_us is not None and reader_time_us < self._last_us
        if self._offset_ns is None or restarted or abs(offset_ns - self._offset_ns) > _REANCHOR_NS:
            self._offset_ns = offset_ns
        else:
            self._offset_ns = min(self._offset_ns, offset_ns)
        self._last_us = reader_time_us

    def stamp_ns(self, reader_time_us: int | None, host_now_ns: int) -> int:
        if reader_time_us is None or self._offset_ns is None:
            return host_now_ns
        return self._offset_ns + reader_time_us * 1000


class RfidReaderNode(Node):
    def __init__(self, **kwargs):
        super().__init__('rfid_reader', **kwargs)
        settings = declare_settings(self, RfidSettings)
        config = load_store_config(settings.store_config)
        self._epc_prefixes = tuple(p.rfid_epc_prefix for p in config.products if p.rfid_tagged)
        self._reader_id = settings.reader_id
        self._port = settings.port
        topic = f'/rfid/{settings.reader_id}/reads'
        qos = sensor_qos(settings.qos)
        self._reads = 0
        self._malformed = 0
        self._tags: set[str] = set()
        self._serial: SerialLines | None = None
        if settings.port == PLAYBACK:
            self.create_subscription(RfidRead, topic, self._count, qos)
        else:
            self._reader_clock = ReaderClock()
            self._serial = SerialLines(settings.port, settings.baud_rate)
            if not self._serial.open(self._now_ns() / 1e9):
                self.get_logger().error(f'{self._serial.error}; retrying')
            self._publisher = self.create_publisher(RfidRead, topic, qos)
            self.create_timer(settings.poll_period_s, self._read_port)
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self._period_start_ns = self._now_ns()
        self.get_logger().info(f'RFID reader {settings.reader_id} on {settings.port}')

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _read_port(self) -> None:
        now_ns = self._now_ns()
        reads = []
        for line in self._serial.poll(now_ns / 1e9):
            try:
                read = parse_tag_line(line)
            except Malformed as error:
                self._malformed += 1
                self.get_logger().warning(str(error), throttle_duration_sec=10.0)
                continue
            if read is not None:
                reads.append(read)
                if read.reader_time_us is not None:
                    self._reader_clock.observe(read.reader_time_us, now_ns)
        for read in reads:
            msg = self._message(read, self._reader_clock.stamp_ns(read.reader_time_us, now_ns))
            self._publisher.publish(msg)
            self._count(msg)

    def _message(self, read: TagRead, stamp_ns: int) -> RfidRead:
        msg = RfidRead(reader_id=self._reader_id, antenna_port=read.antenna, epc=read.epc,
                       rssi_dbm=read.rssi_dbm)
        msg.header.stamp = to_time(stamp_ns)
        msg.header.frame_id = antenna_frame(self._reader_id, read.antenna)
        return msg

    def _count(self, msg: RfidRead) -> None:
        self._reads += 1
        self._tags.add(msg.epc)

    def _publish_diagnostics(self) -> None:
        now_ns = self._now_ns()
        period_s = max((now_ns - self._period_start_ns) / 1e9, 1e-9)
        status = DiagnosticStatus(level=DiagnosticStatus.OK,
                                  name=f'jwo_shelves: rfid {self._reader_id}',
                                  hardware_id=self._port,
                                  message=f'{self._reads / period_s:.1f} reads/s')
        if self._serial is not None and self._serial.error:
            status.level = DiagnosticStatus.ERROR
            status.message = self._serial.error
        status.values = [KeyValue(key='reads', value=str(self._reads)),
                         KeyValue(key='read_rate_hz', value=f'{self._reads / period_s:.2f}'),
                         KeyValue(key='distinct_tags', value=str(len(self._tags))),
                         KeyValue(key='unknown_tags', value=str(sum(
                             not tag.startswith(self._epc_prefixes) for tag in self._tags))),
                         KeyValue(key='malformed_lines', value=str(self._malformed))]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)
        self._period_start_ns = now_ns
        self._reads = 0
        self._tags.clear()

    def destroy_node(self):
        if self._serial is not None:
            self._serial.close()
        return super().destroy_node()


def main(args=None):
    run_node(RfidReaderNode, args)


if __name__ == '__main__':
    main()
