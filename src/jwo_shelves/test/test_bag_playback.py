"""Recorded data: a real rosbag2 (MCAP) file of load-cell messages, played into the event
node and the playback load-cell monitor as raw CDR, the way a bag player publishes it."""

from pathlib import Path

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from jwo_common.qos import EVENTS
from jwo_common.testing import spin_until
from jwo_interfaces.msg import LoadCellReadings, ShelfEvent
from jwo_shelves.load_cell_node import LoadCellNode
from jwo_shelves.shelf_events_node import ShelfEventsNode

ROOT = Path(__file__).resolve().parents[3]
STORE = ROOT / 'config' / 'london' / 'store.yaml'
TOPIC = '/shelves/shelf_a/load_cells'
TYPE = 'jwo_interfaces/msg/LoadCellReadings'
SLOTS = ['a_11', 'a_12', 'a_13', 'a_14', 'a_21', 'a_22', 'a_23', 'a_24']
RATE_HZ = 60.0


def typestore():
    store = get_typestore(Stores.ROS2_JAZZY)
    text = (ROOT / 'src' / 'jwo_interfaces' / 'msg' / 'LoadCellReadings.msg').read_text()
    store.register(get_types_from_msg(text, TYPE))
    return store


def record(path: Path) -> None:
    """8 s of shelf_a: two loaves of bread taken from a_13, a tin of soup put on a_22."""
    rng = np.random.default_rng(5)
    n = round(8 * RATE_HZ)
    grams = np.array([2100, 3100, 1700, 900, 1400, 1800, 800, 1000.0]) \
        + rng.normal(0, 0.7, (n, 8))
    t = np.arange(n) / RATE_HZ
    touch = (t >= 2.0) & (t < 2.7)
    grams[touch, 2] += 400 * np.sin(np.pi * (t[touch] - 2.0) / 0.7)
    grams[t >= 2.5, 2] -= 2 * 812
    grams[t >= 5.0, 5] += 455
    store = typestore()
    msg_type = store.types[TYPE]
    header_type = store.types['std_msgs/msg/Header']
    time_type = store.types['builtin_interfaces/msg/Time']
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection(TOPIC, TYPE, typestore=store)
        for first in range(0, n, 6):
            stamp_ns = 50 * 10**9 + round(first * 1e9 / RATE_HZ)
            message = msg_type(
                header=header_type(stamp=time_type(sec=stamp_ns // 10**9,
                                                   nanosec=stamp_ns % 10**9),
                                   frame_id='shelf_a_link'),
                shelf_id='shelf_a', sample_rate_hz=RATE_HZ, slot_ids=SLOTS, sample_count=6,
                grams=grams[first:first + 6].astype(np.float32).ravel())
            writer.write(connection, stamp_ns + 10**8, store.serialize_cdr(message, TYPE))


def test_recorded_bag_gives_events_and_playback_health(tmp_path):
    bag = tmp_path / 'shelf_a_bag'
    record(bag)
    context = rclpy.Context()
    rclpy.init(context=context)
    events_node = ShelfEventsNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(STORE)), Parameter('shelves', value=['shelf_a'])])
    monitor = LoadCellNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(STORE)), Parameter('shelf_id', value='shelf_a'),
        Parameter('port', value='playback'), Parameter('diagnostics_period_s', value=0.2)])
    player = rclpy.create_node('player', context=context)
    executor = SingleThreadedExecutor(context=context)
    for node in (events_node, monitor, player):
        executor.add_node(node)
    events, diagnostics = [], []
    player.create_subscription(ShelfEvent, '/shelves/events', events.append, EVENTS)
    player.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 100)
    publisher = player.create_publisher(LoadCellReadings, TOPIC, 10)
    try:
        spin_until(executor, lambda: publisher.get_subscription_count() >= 2, 10, 'subscribers')
        taken = events_node._shelves['shelf_a'].health
        watched = monitor._health
        played = 0
        with Reader(bag) as reader:
            for connection, _, raw in reader.messages():
                assert connection.msgtype == TYPE
                publisher.publish(bytes(raw))              # raw CDR, as a bag player does
                played += 6
                spin_until(executor, lambda: taken.total_samples >= played
                           and watched.total_samples >= played, 10, f'sample {played}')
        spin_until(executor, lambda: len(events) >= 2, 10, 'two events')

        def monitor_reported():
            for array in diagnostics:
                status = array.status[0]
                if status.name == 'jwo_shelves: load cells shelf_a' and status.level == b'\x00':
                    return True
            return False
        spin_until(executor, monitor_reported, 10, 'the playback monitor reporting')
    finally:
        executor.shutdown()
        for node in (events_node, monitor, player):
            node.destroy_node()
        context.try_shutdown()

    pick, put = events
    assert (list(pick.slot_ids), pick.kind) == (['a_13'], ShelfEvent.PICK)
    assert (pick.candidates[0].sku, pick.candidates[0].quantity) == ('GB-BREAD-800', 2)
    assert pick.delta_grams == pytest.approx(-1624, abs=3)
    assert pick.header.stamp.sec == 52                         # settled at 52.5 s sensor time
    assert (list(put.slot_ids), put.kind) == (['a_22'], ShelfEvent.PUT)
    assert put.candidates[0].sku == 'GB-SOUP-400'
    assert pick.event_id != put.event_id
