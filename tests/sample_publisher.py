"""Publishes one known ShelfEvent and one known static transform, latched, until SIGINT.

Run as a separate process by test_dds_roundtrip.py; the values here are the ones the test
checks field by field on the other side of loopback DDS.
"""

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from jwo_common.frames import StaticTransform
from jwo_common.qos import LATCHED
from jwo_common.tf import StaticTransformPublisher
from jwo_interfaces.msg import ProductCandidate, ShelfEvent


def main():
    rclpy.init()
    node = Node('sample_publisher')
    event = ShelfEvent()
    event.header.stamp.sec, event.header.stamp.nanosec = 1_700_000_000, 250_000_000
    event.header.frame_id = 'shelf_a_link'
    event.event_id = 'shelf_a:000042'
    event.shelf_id = 'shelf_a'
    event.slot_ids = ['a_11', 'a_12']
    event.kind = ShelfEvent.PICK
    event.started.sec, event.started.nanosec = 1_699_999_999, 750_000_000
    event.delta_grams = -2080.5
    event.candidates = [ProductCandidate(sku='GB-MILK-1L', quantity=2, probability=0.97),
                        ProductCandidate(sku='GB-WATER-750', quantity=3, probability=0.02)]
    publisher = node.create_publisher(ShelfEvent, '/test/shelf_events', LATCHED)
    publisher.publish(event)
    StaticTransformPublisher(node).send([StaticTransform(
        'map', 'cam_07_link', (1.5, -2.25, 3.5), (0.0, 0.70710678, 0.0, 0.70710678))])
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    main()
