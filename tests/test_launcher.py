"""jwo_launch's Stack brings up the whole store, process by process, and names the one that
fails; the main job's pieces (bag play into the stack) deliver data end to end."""

import time
from pathlib import Path

import pytest
from jwo_interfaces.msg import ShelfEvent
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from jwo_common.frames import store_static_transforms
from jwo_common.launcher import LaunchError, Stack, interrupt, play_bag
from jwo_common.qos import EVENTS, LATCHED_LISTENER
from jwo_common.stack import node_names
from jwo_common.tf import TF_STATIC_LISTENER_QOS
from jwo_common.testing import spin_until

REPO = Path(__file__).resolve().parents[1]
LONDON = REPO / 'config' / 'london' / 'store.yaml'


def start(stack, node, executor):
    stack.start(lambda: set(node.get_node_names()),
                lambda s: executor.spin_once(timeout_sec=s), timeout_s=60)


def test_the_stack_comes_up_in_order_and_turns_a_bag_into_shelf_events(ros, tmp_path):
    node, executor = ros
    frames, markers, events = set(), [], []
    node.create_subscription(TFMessage, '/tf_static',
                             lambda m: frames.update(t.child_frame_id for t in m.transforms),
                             TF_STATIC_LISTENER_QOS)
    node.create_subscription(MarkerArray, '/store/layout_markers', markers.append,
                             LATCHED_LISTENER)
    node.create_subscription(ShelfEvent, '/shelves/events', events.append, EVENTS)
    started = []
    stack = Stack(LONDON, 'bag', use_sim_time=True, var_dir=tmp_path / 'var',
                  log_dir=tmp_path / 'logs', log=started.append)
    player = None
    try:
        start(stack, node, executor)
        assert [line.split()[0] for line in started] == [p.name for p in stack.processes]
        assert {n for p in stack.processes for n in node_names(p)} <= set(node.get_node_names())
        expected = {t.child for t in store_static_transforms(stack.config)}
        spin_until(executor, lambda: expected <= frames and markers, 30, 'static TF and layout')
        player = play_bag(REPO / 'bags' / 'london_easy', 4.0, tmp_path / 'logs' / 'play.log')
        spin_until(executor, lambda: events, 60, 'a shelf event from the played bag')
        stack.check_alive()
    finally:
        if player is not None:
            interrupt(player)
        codes = stack.stop()
    assert set(codes.values()) == {0}, codes
    assert (tmp_path / 'var' / 'ledger.sqlite3').is_file()


def test_a_node_that_cannot_start_is_named_with_its_reason(ros, tmp_path):
    node, executor = ros
    params = tmp_path / 'params.yaml'
    params.write_text('/**:\n  ros__parameters:\n    window_s: -1.0\n')
    stack = Stack(LONDON, 'bag', params_file=params, var_dir=tmp_path / 'var',
                  log_dir=tmp_path / 'logs', log=lambda line: None)
    began = time.monotonic()
    try:
        with pytest.raises(LaunchError, match=r'process shelves \(shelf_events\) exited with '
                                              r'code 1: .*window_s'):
            start(stack, node, executor)
    finally:
        stack.stop()
    assert time.monotonic() - began < 60
    # The processes after the failed one were never started.
    assert not (tmp_path / 'logs' / 'fusion.log').exists()
