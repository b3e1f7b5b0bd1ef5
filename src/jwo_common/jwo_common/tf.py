"""Publishing /tf and /tf_static without tf2_ros (not installable from PyPI).

Uses the standard `tf2_msgs/TFMessage` on a ROS host and our wire-identical stand-in
elsewhere, so RViz and tf2 listeners read what these publish.
"""

from __future__ import annotations

from collections.abc import Iterable

from builtin_interfaces.msg import Time
from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from jwo_common.frames import StaticTransform

# The QoS tf2_ros uses, so tf2 listeners and RViz match.
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
# A listener keeps many: every static publisher's latched message arrives at once on joining,
# and a depth of 1 would keep only the last of them.
TF_STATIC_LISTENER_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                                    durability=DurabilityPolicy.TRANSIENT_LOCAL)


def to_transform_msg(transform: StaticTransform, stamp: Time) -> TransformStamped:
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = transform.parent
    msg.child_frame_id = transform.child
    t = msg.transform.translation
    t.x, t.y, t.z = (float(v) for v in transform.translation)
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = (float(v) for v in transform.rotation_xyzw)
    return msg


class StaticTransformPublisher:
    """Latches every static transform this node has sent, in one message.

    A transient-local topic keeps only the newest message per publisher, so like
    tf2_ros's static broadcaster each send republishes the whole accumulated set.
    """

    def __init__(self, node: Node):
        self._node = node
        self._publisher = node.create_publisher(TFMessage, '/tf_static', TF_STATIC_QOS)
        self._by_child: dict[str, TransformStamped] = {}

    def send(self, transforms: Iterable[StaticTransform]) -> None:
        stamp = self._node.get_clock().now().to_msg()
        for transform in transforms:
            self._by_child[transform.child] = to_transform_msg(transform, stamp)
        self._publisher.publish(TFMessage(transforms=list(self._by_child.values())))


class TransformBroadcaster:
    """Publishes moving frames on /tf."""

    def __init__(self, node: Node):
        self._publisher = node.create_publisher(TFMessage, '/tf', TF_QOS)

    def send(self, transforms: Iterable[TransformStamped]) -> None:
        self._publisher.publish(TFMessage(transforms=list(transforms)))
