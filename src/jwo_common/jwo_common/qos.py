"""QoS profiles used across jwo, chosen by name from a node parameter."""

from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

SENSOR_QOS_CHOICES = ('reliable', 'sensor_data')

# Static and latched data (store layout markers, calibration): a subscriber that joins late
# still gets the last message of each publisher.
LATCHED = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
# Subscribing to latched data from several publishers: their messages arrive together on
# joining, and a depth of 1 would keep only the last of them.
LATCHED_LISTENER = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Events that must not be dropped (shelf events, gate events, carts, alerts, reviews). The
# publisher keeps the last 100 for late joiners: a fusion or billing process restarted
# after a crash catches up on what was published while it was down (receivers drop what
# they had already handled).
EVENTS = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                    reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.TRANSIENT_LOCAL)


def sensor_qos(name: str, depth: int = 10) -> QoSProfile:
    """'reliable' (a viewer such as RViz shows every frame) or 'sensor_data' (best effort);
    `depth` messages wait in the queue while the node is busy."""
    if name not in SENSOR_QOS_CHOICES:
        raise ValueError(f'qos must be one of {SENSOR_QOS_CHOICES}, got {name!r}')
    reliability = ReliabilityPolicy.RELIABLE if name == 'reliable' \
        else qos_profile_sensor_data.reliability
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=reliability,
                      durability=DurabilityPolicy.VOLATILE)
