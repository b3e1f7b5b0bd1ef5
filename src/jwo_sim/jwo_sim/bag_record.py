"""`jwo_bag_record -o OUT [TOPIC ...]`: records topics into a rosbag2 MCAP bag via rosbags.

Subscribes raw (the CDR bytes go to the file untouched), matching each publisher's
durability (so latched /tf_static is recorded too), and finds topics as they appear:
with no TOPIC arguments, every topic. Message definitions come from the ROS 2 Jazzy
typestore plus jwo_interfaces, so the bag carries them. Log time = receive time.
Stops on Ctrl-C or after `--duration` seconds.

Production mode (`--store STORE_CONFIG`): the bag goes into the store's recordings folder
and camera images are dropped unless the store's `privacy.record_images` is on; then the
bag records when its images expire, for `jwo_bag_purge`.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.task import Future
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode

from jwo_common.store_config import StoreConfigError, load_store_config
from jwo_sim.bag_play import message_class
from jwo_sim.bag_writer import jwo_typestore, offered_qos
from jwo_sim.retention import EXPIRY_KEY, IMAGE_TYPES, images_expire_at_ns

DISCOVERY_PERIOD_S = 0.5


class BagRecorder:
    def __init__(self, node: Node, writer: Writer, topics: set[str] | None,
                 record_images: bool = True):
        self._node = node
        self._writer = writer
        self._wanted = topics
        self._record_images = record_images
        self._store = jwo_typestore()
        self._connections = {}
        self._subscriptions = []
        self.count = 0
        node.create_timer(DISCOVERY_PERIOD_S, self.discover)
        self.discover()

    def discover(self) -> None:
        for topic, types in self._node.get_topic_names_and_types():
            if topic in self._connections or (self._wanted and topic not in self._wanted):
                continue
            msgtype = types[0]
            if msgtype in IMAGE_TYPES and not self._record_images:
                self._node.get_logger().info(f'{topic}: camera images, not recorded (privacy)')
                self._connections[topic] = None
                continue
            if msgtype not in self._store.types:
                self._node.get_logger().warning(f'{topic}: type {msgtype} unknown, not recorded')
                self._connections[topic] = None
                continue
            latched = any(info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL
                          for info in self._node.get_publishers_info_by_topic(topic))
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self._store,
                offered_qos_profiles=[offered_qos('/tf_static' if latched else topic)])
            # Deep, as the player's: a recorder stalled for a second on a busy machine must
            # not lose what arrived meanwhile (a 10x replay beside a soak lost 2 of 300 frames
            # with 100).
            qos = QoSProfile(depth=1000, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
                             else DurabilityPolicy.VOLATILE)
            self._subscriptions.append(self._node.create_subscription(
                message_class(msgtype), topic,
                lambda raw, topic=topic: self._write(topic, raw), qos, raw=True))

    def _write(self, topic: str, raw: bytes) -> None:
        self._writer.write(self._connections[topic], time.time_ns(), raw)
        self.count += 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_bag_record', description=__doc__.split('\n')[0])
    parser.add_argument('topics', nargs='*', help='topics to record (default: all)')
    parser.add_argument('-o', '--output', help='bag directory to create (with --store: its '
                        'name in the recordings folder; default: the start time)')
    parser.add_argument('--store', metavar='STORE_CONFIG',
                        help="production mode: the store's recordings folder and privacy rules")
    parser.add_argument('--duration', type=float, default=0.0,
                        help='stop after this many seconds (default: until Ctrl-C)')
    args, ros_args = parser.parse_known_args(argv)
    started = datetime.now(timezone.utc)
    record_images, expiry_ns = True, None
    if args.store:
        try:
            config = load_store_config(args.store)
        except StoreConfigError as error:
            print(f'jwo_bag_record: {error}', file=sys.stderr)
            return 1
        privacy = config.privacy
        output = config.resolve_path(privacy.recordings) / (
            args.output or started.strftime('%Y%m%dT%H%M%SZ'))
        output.parent.mkdir(parents=True, exist_ok=True)
        record_images = privacy.record_images
        if record_images:
            expiry_ns = images_expire_at_ns(round(started.timestamp() * 1e9),
                                            privacy.image_retention_days)
    elif args.output:
        output = Path(args.output)
    else:
        parser.error('-o/--output is required without --store')
    if output.exists():
        print(f'jwo_bag_record: {output}: already exists', file=sys.stderr)
        return 1
    writer = Writer(output, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    if expiry_ns is not None:
        writer.set_custom_data(EXPIRY_KEY, str(expiry_ns))
    rclpy.init(args=ros_args)
    node = rclpy.create_node('jwo_bag_record')
    recorder = None
    try:
        # Ctrl-C is caught inside: the writer only finishes the bag (metadata.yaml) on a
        # clean exit from its context.
        with writer:
            recorder = BagRecorder(node, writer, set(args.topics) or None, record_images)
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            try:
                # spin() rather than a spin_once() loop: the loop is several times slower.
                if args.duration:
                    done = Future()
                    node.create_timer(args.duration, lambda: done.set_result(True))
                    executor.spin_until_future_complete(done)
                else:
                    executor.spin()
            except (KeyboardInterrupt, ExternalShutdownException):
                pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    print(f'recorded {recorder.count if recorder else 0} messages into {output}')
    return 0


def record() -> None:
    sys.exit(main())


if __name__ == '__main__':
    record()
