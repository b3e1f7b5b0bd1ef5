"""The RFID reader driver over a real pseudo-terminal, with real rclpy."""

import os
import tty
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter

from jwo_common.testing import spin_until
from jwo_interfaces.msg import RfidRead
from jwo_shelves.rfid_node import ReaderClock, RfidReaderNode
from jwo_shelves.serial_protocol import Malformed, parse_tag_line

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
WINE_TAG = '3034257BF4000000000000A1'      # GB-WINE-750's EPC prefix


def test_tag_lines_parse_or_are_refused_with_the_line():
    read = parse_tag_line('T,2,3034257bf4000000000000a1,-58.5,1500\r\n')
    assert (read.antenna, read.epc, read.rssi_dbm, read.reader_time_us) == \
        (2, WINE_TAG, -58.5, 1500)
    assert parse_tag_line('# reader v2') is None
    for bad in ('T,1,XYZ,-50', 'T,300,AB,-50', 'Q,1,AB,-50', 'T,1,AB,loud'):
        with pytest.raises(Malformed) as refused:
            parse_tag_line(bad)
        assert repr(bad) in str(refused.value)


def test_reader_clock_follows_the_least_delayed_line_and_survives_a_restart():
    clock = ReaderClock()
    assert clock.stamp_ns(None, 4_000_000) == 4_000_000         # reader sends no time
    clock.observe(1_000, 5_000_000)
    assert clock.stamp_ns(1_000, 5_000_000) == 5_000_000
    clock.observe(2_000, 5_900_000)                              # less delayed than the first
    clock.observe(3_000, 7_500_000)
    assert clock.stamp_ns(3_000, 7_500_000) == 6_900_000
    clock.observe(10, 9_000_000)                                 # reader restarted
    assert clock.stamp_ns(10, 9_000_000) == 9_000_000


def test_reads_from_the_serial_reader_are_published(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = RfidReaderNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(STORE)), Parameter('reader_id', value='exit_1'),
        Parameter('port', value=os.ttyname(slave)), Parameter('diagnostics_period_s', value=0.2)])
    probe = rclpy.create_node('probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe)
    reads, diagnostics = [], []
    probe.create_subscription(RfidRead, '/rfid/exit_1/reads', reads.append, 100)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 100)
    try:
        os.write(master, f'# reader up\nT,1,{WINE_TAG},-61.5,100\nnonsense\n'
                         'T,2,DEADBEEF,-70,200\n'.encode())
        spin_until(executor, lambda: len(reads) >= 2, 10, 'two tag reads')
        first, second = reads
        assert (first.reader_id, first.antenna_port, first.epc) == ('exit_1', 1, WINE_TAG)
        assert first.rssi_dbm == pytest.approx(-61.5)
        assert first.header.frame_id == 'exit_1_antenna_1'
        first_ns = first.header.stamp.sec * 10**9 + first.header.stamp.nanosec
        second_ns = second.header.stamp.sec * 10**9 + second.header.stamp.nanosec
        assert second_ns - first_ns == 100_000                  # the reader's own clock

        def reported():
            for array in diagnostics:
                values = {kv.key: kv.value for kv in array.status[0].values}
                if values['malformed_lines'] == '1' and values['unknown_tags'] == '1':
                    return True
            return False
        spin_until(executor, reported, 10, 'diagnostics with the malformed line and unknown tag')
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        context.try_shutdown()
        os.close(master)
        os.close(slave)
