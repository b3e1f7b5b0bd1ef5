"""Store view without RViz: a Foxglove WebSocket server (foxglove-sdk, 127.0.0.1 by
default) showing what the technician's RViz config shows: the TF tree, the store layout,
the live markers (shoppers, carts, shelf events, gates) and the overhead depth images.

Open Foxglove (desktop app or web), "Open connection", `ws://127.0.0.1:8765`, then a 3D
panel (fixed frame `map`) and image panels. The server sends a channel only to viewers
subscribed to it. Static transforms and the layout are sent again every
`republish_period_s` for viewers that connect later.
"""

from __future__ import annotations

from dataclasses import dataclass

import foxglove
from foxglove.channels import FrameTransformsChannel, RawImageChannel, SceneUpdateChannel
from foxglove.messages import (Color, CubePrimitive, CylinderPrimitive, Duration, FrameTransform,
                               FrameTransforms, Pose, Quaternion, RawImage, SceneEntity,
                               SceneEntityDeletion, SceneEntityDeletionType, SceneUpdate,
                               SpherePrimitive, TextPrimitive, Timestamp, Vector3)
from rclpy.node import Node
from sensor_msgs.msg import Image
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import Marker, MarkerArray

from jwo_cameras.camera_node import image_topic
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import LATCHED_LISTENER, SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import load_store_config
from jwo_common.tf import TF_QOS, TF_STATIC_LISTENER_QOS

LAYOUT_TOPIC = '/store/layout_markers'
LIVE_TOPIC = '/store/markers'


@dataclass(frozen=True)
class StoreViewSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    host: str = param('127.0.0.1', 'Address the Foxglove WebSocket server listens on',
                      read_only=True)
    port: int = param(8765, 'Port of the Foxglove WebSocket server; 0 = any free port',
                      read_only=True, min_value=0, max_value=65535)
    cameras: list[str] = param([], 'Cameras whose depth images to show; empty = every depth '
                               'camera of the store config', read_only=True)
    image_qos: str = param('reliable', 'QoS of the image subscriptions',
                           choices=SENSOR_QOS_CHOICES, read_only=True)
    republish_period_s: float = param(2.0, 'Seconds between re-sends of the static '
                                      'transforms and the layout', min_value=0.1,
                                      max_value=60.0, read_only=True)


def _timestamp(stamp) -> Timestamp:
    return Timestamp(stamp.sec, stamp.nanosec)


def frame_transforms(msg: TFMessage) -> FrameTransforms:
    return FrameTransforms(transforms=[FrameTransform(
        timestamp=_timestamp(t.header.stamp), parent_frame_id=t.header.frame_id,
        child_frame_id=t.child_frame_id,
        translation=Vector3(x=t.transform.translation.x, y=t.transform.translation.y,
                            z=t.transform.translation.z),
        rotation=Quaternion(x=t.transform.rotation.x, y=t.transform.rotation.y,
                            z=t.transform.rotation.z, w=t.transform.rotation.w))
        for t in msg.transforms])


def _pose(marker: Marker) -> Pose:
    p, q = marker.pose.position, marker.pose.orientation
    return Pose(position=Vector3(x=p.x, y=p.y, z=p.z),
                orientation=Quaternion(x=q.x, y=q.y, z=q.z, w=q.w))


def _entity(marker: Marker) -> SceneEntity | None:
    """One RViz marker as a Foxglove scene entity (the kinds jwo's markers use)."""
    size = Vector3(x=marker.scale.x, y=marker.scale.y, z=marker.scale.z)
    color = Color(r=marker.color.r, g=marker.color.g, b=marker.color.b, a=marker.color.a)
    shapes = {}
    if marker.type == Marker.CUBE:
        shapes['cubes'] = [CubePrimitive(pose=_pose(marker), size=size, color=color)]
    elif marker.type == Marker.SPHERE:
        shapes['spheres'] = [SpherePrimitive(pose=_pose(marker), size=size, color=color)]
    elif marker.type == Marker.CYLINDER:
        shapes['cylinders'] = [CylinderPrimitive(pose=_pose(marker), size=size, bottom_scale=1.0,
                                                 top_scale=1.0, color=color)]
    elif marker.type == Marker.TEXT_VIEW_FACING:
        shapes['texts'] = [TextPrimitive(pose=_pose(marker), billboard=True,
                                         font_size=marker.scale.z, scale_invariant=False,
                                         color=color, text=marker.text)]
    else:
        return None
    lifetime = marker.lifetime
    return SceneEntity(
        timestamp=_timestamp(marker.header.stamp), frame_id=marker.header.frame_id,
        id=f'{marker.ns}/{marker.id}', frame_locked=marker.frame_locked,
        lifetime=Duration(lifetime.sec, lifetime.nanosec)
        if lifetime.sec or lifetime.nanosec else None, **shapes)


def scene_update(msg: MarkerArray) -> SceneUpdate:
    deletions, entities = [], []
    for marker in msg.markers:
        if marker.action == Marker.DELETEALL:
            deletions.append(SceneEntityDeletion(timestamp=_timestamp(marker.header.stamp),
                                                 type=SceneEntityDeletionType.All))
        elif marker.action == Marker.DELETE:
            deletions.append(SceneEntityDeletion(timestamp=_timestamp(marker.header.stamp),
                                                 type=SceneEntityDeletionType.MatchingId,
                                                 id=f'{marker.ns}/{marker.id}'))
        else:
            entity = _entity(marker)
            if entity is not None:
                entities.append(entity)
    return SceneUpdate(deletions=deletions, entities=entities)


def raw_image(msg: Image) -> RawImage:
    return RawImage(timestamp=_timestamp(msg.header.stamp), frame_id=msg.header.frame_id,
                    width=msg.width, height=msg.height, encoding=msg.encoding, step=msg.step,
                    data=bytes(msg.data))


class StoreViewNode(Node):
    def __init__(self, **kwargs):
        super().__init__('store_view', **kwargs)
        settings = declare_settings(self, StoreViewSettings)
        config = load_store_config(settings.store_config)
        cameras = config.depth_camera_ids(settings.cameras)
        self._server = foxglove.start_server(name=f'jwo {config.store.id}', host=settings.host,
                                             port=settings.port)
        self.port = self._server.port
        self._tf = FrameTransformsChannel('/tf')
        self._layout = SceneUpdateChannel(LAYOUT_TOPIC)
        self._live = SceneUpdateChannel(LIVE_TOPIC)
        self._static: dict[str, object] = {}        # child frame -> its latest static transform
        self._layout_msg: MarkerArray | None = None
        self.create_subscription(TFMessage, '/tf', self._on_tf, TF_QOS)
        self.create_subscription(TFMessage, '/tf_static', self._on_tf_static,
                                 TF_STATIC_LISTENER_QOS)
        self.create_subscription(MarkerArray, LAYOUT_TOPIC, self._on_layout, LATCHED_LISTENER)
        self.create_subscription(MarkerArray, LIVE_TOPIC,
                                 lambda m: self._live.log(scene_update(m)), 10)
        for camera_id in cameras:
            topic = image_topic(camera_id, 'depth')
            channel = RawImageChannel(topic)
            self.create_subscription(Image, topic, lambda m, c=channel: self._on_image(c, m),
                                     sensor_qos(settings.image_qos))
        self.create_timer(settings.republish_period_s, self._republish)
        self.get_logger().info(f'Foxglove view of store {config.store.id} on '
                               f'ws://{settings.host}:{self.port} ({len(cameras)} cameras)')

    def _on_tf(self, msg: TFMessage) -> None:
        self._tf.log(frame_transforms(msg))

    def _on_tf_static(self, msg: TFMessage) -> None:
        for transform in msg.transforms:
            self._static[transform.child_frame_id] = transform
        self._tf.log(frame_transforms(msg))

    def _on_layout(self, msg: MarkerArray) -> None:
        self._layout_msg = msg
        self._layout.log(scene_update(msg))

    @staticmethod
    def _on_image(channel: RawImageChannel, msg: Image) -> None:
        channel.log(raw_image(msg))

    def _republish(self) -> None:
        if self._static:
            self._tf.log(frame_transforms(TFMessage(transforms=list(self._static.values()))))
        if self._layout_msg is not None:
            self._layout.log(scene_update(self._layout_msg))

    def destroy_node(self) -> None:
        self._server.stop()
        super().destroy_node()


def main(args=None):
    run_node(StoreViewNode, args)


if __name__ == '__main__':
    main()
