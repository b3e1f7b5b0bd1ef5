"""The load-cell driver reading a board over a real pseudo-terminal, with real rclpy."""

import math
import os
import tty
from pathlib import Path

import numpy as np
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from jwo_common.testing import spin_until
from jwo_interfaces.msg import LoadCellReadings
from jwo_shelves.load_cell_node import LoadCellNode

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
CHANNELS = 8     # shelf_a has eight plates on channels 0..7


class Board:
    """The board's end of the serial line: writes protocol lines into the pty."""

    def __init__(self, master_fd: int):
        self.fd = master_fd
        self.seq = 0

    def write(self, text: str) -> None:
        os.write(self.fd, text.encode('ascii'))

    def samples(self, counts, repeat: int = 1, skip: int = 0) -> None:
        self.seq += skip
        lines = []
        for _ in range(repeat):
            fields = ['E' if isinstance(c, float) and math.isnan(c) else str(c) for c in counts]
            lines.append(f'S,{self.seq},{self.seq * 16667},' + ','.join(fields) + '\n')
            self.seq += 1
        self.write(''.join(lines))


@pytest.fixture
def rig(tmp_path):
    master, slave = os.openpty()
    tty.setraw(slave)
    context = rclpy.Context()
    rclpy.init(context=context)
    calibration = tmp_path / 'shelf_a.yaml'
    node = LoadCellNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(STORE)), Parameter('shelf_id', value='shelf_a'),
        Parameter('port', value=os.ttyname(slave)),
        Parameter('calibration_file', value=str(calibration)),
        Parameter('calibration_weight_g', value=500.0),
        Parameter('diagnostics_period_s', value=0.2)])
    probe = rclpy.create_node('probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(probe)
    readings, diagnostics = [], []
    probe.create_subscription(LoadCellReadings, '/shelves/shelf_a/load_cells', readings.append, 100)
    probe.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 100)
    try:
        yield Board(master), probe, executor, readings, diagnostics, calibration
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()
        context.try_shutdown()
        os.close(master)
        os.close(slave)


def rows(readings) -> np.ndarray:
    return np.concatenate([np.asarray(m.grams, dtype=np.float64).reshape(m.sample_count, -1)
                           for m in readings]) if readings else np.zeros((0, CHANNELS))


def call(probe, executor, service: str) -> Trigger.Response:
    client = probe.create_client(Trigger, service)
    spin_until(executor, client.service_is_ready, 10, f'{service} to be ready')
    future = client.call_async(Trigger.Request())
    spin_until(executor, future.done, 10, f'{service} to answer')
    return future.result()


def test_board_lines_become_batches_with_gaps_and_errors_as_nan(rig):
    board, probe, executor, readings, diagnostics, _ = rig
    board.write('# jwo load-cell board v1\n')
    board.samples(range(100, 100 + CHANNELS), repeat=10)
    board.write('S,garbage\n')
    board.samples([7, float('nan'), 9, 10, 11, 12, 13, 14], repeat=2, skip=1)   # one line lost
    spin_until(executor, lambda: len(rows(readings)) >= 13, 10, 'all samples published')
    grams = rows(readings)
    assert grams.shape == (13, CHANNELS)
    np.testing.assert_array_equal(grams[0], np.arange(100, 100 + CHANNELS))
    assert np.isnan(grams[10]).all()                  # the lost line
    assert grams[11, 0] == 7 and np.isnan(grams[11, 1])
    message = readings[0]
    assert message.shelf_id == 'shelf_a' and message.header.frame_id == 'shelf_a_link'
    assert message.slot_ids[:2] == ['a_11', 'a_12'] and message.sample_rate_hz == 60.0

    def counted():
        values = {kv.key: kv.value for d in diagnostics for s in d.status[:1] for kv in s.values}
        return values.get('lost_lines') == '1' and values.get('malformed_lines') == '1'
    spin_until(executor, counted, 10, 'diagnostics counting the lost and malformed lines')


def test_tare_and_calibrate_persist_and_apply(rig, tmp_path):
    board, probe, executor, readings, _, calibration = rig
    board.samples([1000] * CHANNELS, repeat=30)
    spin_until(executor, lambda: len(rows(readings)) >= 30, 10, 'unloaded samples')
    response = call(probe, executor, '/shelves/shelf_a/tare')
    assert response.success, response.message
    saved = yaml.safe_load(calibration.read_text())
    assert saved['channels'][3]['offset_counts'] == pytest.approx(1000)

    failed = call(probe, executor, '/shelves/shelf_a/calibrate')
    assert not failed.success and 'reference weight' in failed.message

    board.samples([2000] + [1000] * (CHANNELS - 1), repeat=30)   # 500 g on plate 0
    spin_until(executor, lambda: len(rows(readings)) >= 60, 10, 'loaded samples')
    response = call(probe, executor, '/shelves/shelf_a/calibrate')
    assert response.success and '[0]' in response.message, response.message
    saved = yaml.safe_load(calibration.read_text())
    assert saved['channels'][0]['grams_per_count'] == pytest.approx(0.5)
    assert saved['channels'][1]['grams_per_count'] == pytest.approx(1.0)

    board.samples([3000, 1010] + [1000] * (CHANNELS - 2), repeat=3)
    spin_until(executor, lambda: len(rows(readings)) >= 63, 10, 'calibrated samples')
    np.testing.assert_allclose(rows(readings)[-1][:3], [1000.0, 10.0, 0.0])


def test_a_port_that_vanishes_is_reported_not_fatal(rig):
    board, probe, executor, readings, diagnostics, _ = rig
    board.samples([5] * CHANNELS, repeat=3)
    spin_until(executor, lambda: len(rows(readings)) >= 3, 10, 'samples')
    os.close(board.fd)                                 # the board is unplugged
    board.fd = os.open(os.devnull, os.O_WRONLY)        # so the fixture's close stays valid

    def port_error():
        return any(d.status[0].level == b'\x02' and ('read failed' in d.status[0].message
                                                      or 'cannot open' in d.status[0].message)
                   for d in diagnostics)
    spin_until(executor, port_error, 10, 'diagnostics reporting the lost port')
