"""jwo_bag_play and jwo_bag_record as real processes over loopback DDS."""

import shutil
import threading
from pathlib import Path

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Reader

from jwo_common.frames import store_static_transforms
from jwo_common.qos import LATCHED_LISTENER, sensor_qos
from jwo_common.store_config import load_store_config
from jwo_common.testing import interrupt_and_wait, node_process, wait_until
from jwo_sim.bag_play import message_class
from jwo_sim.playback import BagError, open_bag

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / 'bags' / 'london_easy'
TOPICS = ['/shelves/shelf_a/load_cells', '/cameras/cam_01/depth/image_raw',
          '/cameras/gate_cam/color/image_raw', '/gates/entry_scans', '/clock']
RELIABLE = sensor_qos('reliable', depth=1000)


def bag_raw(path: Path, topics: list[str]) -> dict[str, list[bytes]]:
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        found = {topic: [] for topic in topics}
        for connection, _, raw in reader.messages(connections=connections):
            found[connection.topic].append(bytes(raw))
    return found


@pytest.fixture
def node():
    rclpy.init()
    node = rclpy.create_node('bag_tools_probe')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    # spin() in a thread keeps up with hundreds of messages a second; a spin_once loop
    # does not.
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    thread.join(timeout=5)


def test_play_delivers_every_message_in_order_and_latches_tf_static(node):
    expected = bag_raw(SAMPLE, TOPICS)
    received = {topic: [] for topic in TOPICS}
    with open_bag(SAMPLE, set(TOPICS)) as bag:
        types = {topic: info.msgtype for topic, info in bag.topics.items()}
    for topic in TOPICS:
        node.create_subscription(message_class(types[topic]), topic,
                                 lambda raw, topic=topic: received[topic].append(bytes(raw)),
                                 RELIABLE, raw=True)
    player = node_process('jwo_sim.bag_play', str(SAMPLE), '--rate', '8', '--loop',
                          '--wait-for-subscribers', '30', '--topics', *TOPICS, '/tf_static')
    try:
        wait_until(lambda: all(len(received[t]) >= len(expected[t]) for t in TOPICS), 60,
                   'one full pass of the bag')
        for topic in TOPICS:
            assert received[topic][:len(expected[topic])] == expected[topic], topic
        # A subscriber joining after the whole bag has played still gets the transforms.
        static = []
        node.create_subscription(message_class('tf2_msgs/msg/TFMessage'), '/tf_static',
                                 static.append, LATCHED_LISTENER)
        wait_until(lambda: static, 20, 'latched /tf_static')
        config = load_store_config(ROOT / 'config' / 'london' / 'store.yaml')
        assert sorted(t.child_frame_id for t in static[0].transforms) == \
            sorted(t.child for t in store_static_transforms(config))
    finally:
        code, _, err = interrupt_and_wait(player)
    assert code == 0, err


def test_corrupt_or_truncated_bag_is_one_line_naming_the_file(tmp_path):
    broken = tmp_path / 'broken'
    shutil.copytree(SAMPLE, broken)
    mcap = broken / 'london_easy.mcap'
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 3])
    garbage = tmp_path / 'garbage'
    shutil.copytree(SAMPLE, garbage)
    (garbage / 'london_easy.mcap').write_bytes(b'\x89MCAP0\r\n' + b'\x00' * 4096)
    for bag in (broken, garbage, tmp_path / 'missing'):
        player = node_process('jwo_sim.bag_play', str(bag), '--rate', '50')
        out, err = player.communicate(timeout=60)
        assert player.returncode == 1, err
        assert err.count('\n') == 1 and str(bag) in err and 'Traceback' not in err, err
    with pytest.raises(BagError, match='broken: cannot read bag'):
        with open_bag(broken) as bag:
            for _ in bag.messages():
                pass


def test_record_writes_what_was_played(node, tmp_path):
    topics = ['/shelves/shelf_b/load_cells', '/gates/entry_scans']
    out = tmp_path / 'recorded'
    # The player's publishers wait for the recorder, which subscribes once it sees them.
    player = node_process('jwo_sim.bag_play', str(SAMPLE), '--rate', '10',
                          '--wait-for-subscribers', '30', '--topics', *topics, '/tf_static')
    recorder = node_process('jwo_sim.bag_record', '-o', str(out), *topics, '/tf_static')
    _, err = player.communicate(timeout=60)
    assert player.returncode == 0, err
    code, stdout, err = interrupt_and_wait(recorder)
    assert code == 0, err
    expected = bag_raw(SAMPLE, topics)
    with AnyReader([out]) as reader:
        recorded = {topic: [] for topic in topics}
        for connection, _, raw in reader.messages():
            recorded.setdefault(connection.topic, []).append(bytes(raw))
        latched = {c.topic for c in reader.connections
                   if c.ext.offered_qos_profiles[0].durability.name == 'TRANSIENT_LOCAL'}
    for topic in topics:
        assert recorded[topic] == expected[topic], topic
    assert len(recorded['/tf_static']) == 1 and latched == {'/tf_static'}


def test_undecodable_tf_static_is_a_bag_error(tmp_path):
    from rosbags.rosbag2 import StoragePlugin, Writer

    from jwo_sim.bag_writer import jwo_typestore
    store = jwo_typestore()
    with Writer(tmp_path / 'bad', version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection('/tf_static', 'tf2_msgs/msg/TFMessage',
                                           typestore=store)
        writer.write(connection, 0, b'\x00\x01\x00\x00\x01\x00\x00\x00\xe6\xff\xff\xff')
    with pytest.raises(BagError, match='bad: '):
        open_bag(tmp_path / 'bad')
