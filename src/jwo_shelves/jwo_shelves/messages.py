"""Conversions between the ROS-free core's dataclasses and our ROS messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from jwo_interfaces.msg import LoadCellReadings, ProductCandidate, ShelfEvent, StoreAlert
from jwo_shelves.health import ChannelReport, StreamReport
from jwo_shelves.shelf_monitor import ShelfEventData


def to_time(stamp_ns: int) -> Time:
    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)


def to_ns(stamp: Time) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def load_cell_readings(shelf_id: str, frame_id: str, slot_ids: Sequence[str],
                       sample_rate_hz: float, start_ns: int, grams: np.ndarray) -> LoadCellReadings:
    msg = LoadCellReadings(shelf_id=shelf_id, sample_rate_hz=float(sample_rate_hz),
                           slot_ids=list(slot_ids), sample_count=int(grams.shape[0]))
    msg.header.stamp = to_time(start_ns)
    msg.header.frame_id = frame_id
    msg.grams = np.ascontiguousarray(grams, dtype=np.float32).ravel()
    return msg


def readings_grams(msg: LoadCellReadings) -> np.ndarray:
    """[sample][slot]; ValueError when the array does not match the declared layout."""
    grams = np.asarray(msg.grams, dtype=np.float32)
    if grams.size != msg.sample_count * len(msg.slot_ids):
        raise ValueError(f'{msg.shelf_id}: {grams.size} grams for {msg.sample_count} samples '
                         f'x {len(msg.slot_ids)} slots')
    return grams.reshape(msg.sample_count, len(msg.slot_ids))


def shelf_event(event: ShelfEventData, frame_id: str) -> ShelfEvent:
    msg = ShelfEvent(event_id=event.event_id, shelf_id=event.shelf_id,
                     slot_ids=list(event.slot_ids), kind=int(event.kind),
                     started=to_time(event.started_ns), lifted=to_time(event.lifted_ns),
                     delta_grams=float(event.delta_g))
    msg.header.stamp = to_time(event.settled_ns)
    msg.header.frame_id = frame_id
    msg.candidates = [ProductCandidate(sku=c.sku, quantity=c.quantity, probability=c.probability)
                      for c in event.candidates]
    return msg


def anomaly_alert(event: ShelfEventData, source: str) -> StoreAlert:
    direction = 'removed from' if event.delta_g < 0 else 'placed on'
    msg = StoreAlert(alert_id=f'alert-{event.event_id}', kind=StoreAlert.LOSS_PREVENTION,
                     source=source, refs=[event.event_id, *event.slot_ids],
                     description=(f'{abs(event.delta_g):.0f} g {direction} '
                                  f'{event.shelf_id}/{"+".join(event.slot_ids)} matches no '
                                  'product'))
    msg.header.stamp = to_time(event.settled_ns)
    return msg


def sensor_alert(shelf_id: str, channel: ChannelReport, source: str, stamp_ns: int) -> StoreAlert:
    """A load cell that stopped giving usable readings (dead or stuck)."""
    state = channel.message.split(':', 1)[0]
    msg = StoreAlert(alert_id=f'sensor-{shelf_id}-{channel.name}-{state}-{stamp_ns}',
                     kind=StoreAlert.SENSOR, source=source, refs=[shelf_id, channel.name],
                     description=f'load cell {shelf_id}/{channel.name} {channel.message}')
    msg.header.stamp = to_time(stamp_ns)
    return msg


def stream_statuses(report: StreamReport, name: str, hardware_id: str,
                    values: Mapping[str, object] = {}) -> list[DiagnosticStatus]:
    """One status for the stream, then one per channel ('<name>/<channel>')."""
    stream = DiagnosticStatus(level=bytes([int(min(report.level, 3))]), name=name,
                              hardware_id=hardware_id, message=report.message)
    stream.values = [KeyValue(key='rate_hz', value=f'{report.rate_hz:.2f}'),
                     KeyValue(key='samples', value=str(report.samples)),
                     KeyValue(key='dead', value=','.join(report.dead)),
                     KeyValue(key='stuck', value=','.join(report.stuck)),
                     *(KeyValue(key=k, value=str(v)) for k, v in values.items())]
    statuses = [stream]
    for channel in report.channels:
        status = DiagnosticStatus(level=bytes([int(channel.level)]), name=f'{name}/{channel.name}',
                                  hardware_id=hardware_id, message=channel.message)
        status.values = [KeyValue(key='missing_fraction', value=f'{channel.missing_fraction:.3f}'),
                         KeyValue(key='unchanged_s', value=f'{channel.unchanged_s:.1f}')]
        statuses.append(status)
    return statuses
