"""Publishes the store layout (floor, shelves, slots, gates, cameras) as latched RViz markers."""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node
from visualization_msgs.msg import Marker, MarkerArray

from jwo_common.frames import MAP_FRAME
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import LATCHED
from jwo_common.store_config import load_store_config
from jwo_fusion.store_layout import Box, Label, store_layout


@dataclass(frozen=True)
class StoreMarkersSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    topic: str = param('/store/layout_markers', 'Topic of the latched MarkerArray',
                       read_only=True)


def _marker(namespace: str, marker_id: int, stamp) -> Marker:
    marker = Marker()
    marker.header.frame_id = MAP_FRAME
    marker.header.stamp = stamp
    marker.ns = namespace
    marker.id = marker_id
    marker.action = Marker.ADD
    marker.frame_locked = True
    return marker


def _box_marker(box: Box, marker_id: int, stamp) -> Marker:
    marker = _marker(box.namespace, marker_id, stamp)
    marker.type = Marker.CUBE
    p = marker.pose.position
    p.x, p.y, p.z = box.centre
    q = marker.pose.orientation
    q.x, q.y, q.z, q.w = box.rotation_xyzw
    marker.scale.x, marker.scale.y, marker.scale.z = box.size
    marker.color.r, marker.color.g, marker.color.b, marker.color.a = box.rgba
    return marker


def _label_marker(label: Label, marker_id: int, stamp) -> Marker:
    marker = _marker(label.namespace, marker_id, stamp)
    marker.type = Marker.TEXT_VIEW_FACING
    p = marker.pose.position
    p.x, p.y, p.z = label.position
    marker.pose.orientation.w = 1.0
    marker.scale.z = label.height_m
    marker.color.r = marker.color.g = marker.color.b = 0.05
    marker.color.a = 1.0
    marker.text = label.text
    return marker


class StoreMarkersNode(Node):
    def __init__(self, **kwargs):
        super().__init__('store_markers', **kwargs)
        settings = declare_settings(self, StoreMarkersSettings)
        config = load_store_config(settings.store_config)
        boxes, labels = store_layout(config)
        stamp = self.get_clock().now().to_msg()
        markers = MarkerArray(markers=[_box_marker(b, i, stamp) for i, b in enumerate(boxes)]
                              + [_label_marker(label, i, stamp) for i, label in enumerate(labels)])
        self._publisher = self.create_publisher(MarkerArray, settings.topic, LATCHED)
        self._publisher.publish(markers)
        self.get_logger().info(f'published {len(markers.markers)} layout markers of store '
                               f'{config.store.id} on {settings.topic}')


def main(args=None):
    run_node(StoreMarkersNode, args)


if __name__ == '__main__':
    main()
