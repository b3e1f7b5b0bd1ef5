"""`jwo_bag_play BAG`: publishes a bag into ROS 2 from its raw CDR bytes.

- /tf_static: the union of the bag's /tf_static messages, published once, latched
  (transient-local), so subscribers that join at any time during playback get it.
- Other topics: reliable, volatile, depth 100 (a latched topic in the bag stays latched).
- /clock: the bag's own /clock messages, or, when it has none, one every 100 ms of bag time.
- `--rate`, `--loop`, `--topics` (filter), `--wait-for-subscribers` (start only once every
  published topic has a subscriber, so none of the first messages is lost).
A bag that cannot be read ends with one line on stderr naming the file, exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable, Iterable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from jwo_common.qos import LATCHED, sensor_qos
from jwo_sim.playback import (TF_MESSAGE_TYPE, TF_STATIC, Bag, BagError, BagMessage, Schedule,
                              open_bag)

CLOCK_TOPIC = '/clock'
CLOCK_TYPE = 'rosgraph_msgs/msg/Clock'
GENERATED_CLOCK_PERIOD_NS = 100_000_000
# A reliable writer that keeps only its last N messages drops unacknowledged ones when a
# subscriber stalls (a busy process on two cores); a deep history rides out seconds of
# stall at several times real time. The subscriber's own QoS still decides what it keeps.
PLAYBACK_QOS = sensor_qos('reliable', depth=1000)


def message_class(msgtype: str):
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    package, _, name = msgtype.split('/')
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError):
        raise BagError(f'message type {msgtype} is not installed in this Python '
                       f'environment') from None


class BagPlayer:
    """Publishes a bag through `node`; `play_once()` returns after the last message."""

    def __init__(self, node: Node, bag: Bag, rate: float):
        self._node = node
        self._bag = bag
        self._rate = rate
        self._publishers = {}
        for topic, info in sorted(bag.topics.items()):
            if topic == TF_STATIC:
                continue
            self._publishers[topic] = node.create_publisher(
                message_class(info.msgtype), topic, LATCHED if info.latched else PLAYBACK_QOS)
        self._generate_clock = CLOCK_TOPIC not in bag.topics
        if self._generate_clock:
            self._publishers[CLOCK_TOPIC] = node.create_publisher(
                message_class(CLOCK_TYPE), CLOCK_TOPIC, PLAYBACK_QOS)
        if bag.static_transforms is not None:
            self._static = node.create_publisher(message_class(TF_MESSAGE_TYPE), TF_STATIC,
                                                 LATCHED)
            self._static.publish(bag.static_transforms)

    def wait_for_subscribers(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(publisher.get_subscription_count() > 0
                   for topic, publisher in self._publishers.items() if topic in self._bag.topics):
                return True
            time.sleep(0.02)
        return False

    def play_once(self, faults: Callable[[BagMessage], Iterable[BagMessage]] | None = None
                  ) -> int:
        """Publishes every message at its time; returns how many were published. `faults`
        (fault injection) turns each message into those to publish in its place."""
        schedule = Schedule(self._bag.start_ns, time.monotonic(), self._rate)
        clock_class = message_class(CLOCK_TYPE)
        next_clock_ns = self._bag.start_ns
        published = 0
        for message in self._bag.messages():
            while self._generate_clock and next_clock_ns <= message.log_ns:
                self._sleep_until(schedule.wall_time_s(next_clock_ns))
                clock = clock_class()
                clock.clock.sec, clock.clock.nanosec = divmod(next_clock_ns, 10**9)
                self._publishers[CLOCK_TOPIC].publish(clock)
                next_clock_ns += GENERATED_CLOCK_PERIOD_NS
            self._sleep_until(schedule.wall_time_s(message.log_ns))
            for sent in faults(message) if faults else (message,):
                self._publishers[sent.topic].publish(sent.raw)
                published += 1
        return published

    @staticmethod
    def _sleep_until(wall_s: float) -> None:
        delay = wall_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_bag_play', description=__doc__.split('\n')[0])
    parser.add_argument('bag', help='rosbag2 directory (or .mcap file)')
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed (x real time)')
    parser.add_argument('--loop', action='store_true', help='start over at the end, forever')
    parser.add_argument('--topics', nargs='+', help='publish only these topics')
    parser.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
                        help='wait up to this long for a subscriber on every topic first')
    args, ros_args = parser.parse_known_args(argv)
    if args.rate <= 0:
        parser.error('--rate must be > 0')
    rclpy.init(args=ros_args)
    node = None
    try:
        bag = open_bag(args.bag, set(args.topics) if args.topics else None)
        node = rclpy.create_node('jwo_bag_play')
        player = BagPlayer(node, bag, args.rate)
        if args.wait_for_subscribers and not player.wait_for_subscribers(
                args.wait_for_subscribers):
            node.get_logger().warning('not every topic has a subscriber; playing anyway')
        while True:
            count = player.play_once()
            node.get_logger().info(f'played {count} messages of {args.bag}')
            if not args.loop:
                break
    except BagError as error:
        print(f'jwo_bag_play: {error}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def play() -> None:
    sys.exit(main())


if __name__ == '__main__':
    play()
