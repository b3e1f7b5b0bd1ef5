"""A jwo_interfaces message and a TFMessage cross a process boundary over loopback DDS."""

from pathlib import Path

from tf2_msgs.msg import TFMessage

from jwo_common.qos import LATCHED
from jwo_common.testing import interrupt_and_wait, node_process, spin_until
from jwo_common.tf import TF_STATIC_LISTENER_QOS
from jwo_interfaces.msg import ShelfEvent

STANDARD_TF_MESSAGE_HASH = 'RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087'


def test_shelf_event_and_tf_cross_processes(ros):
    node, executor = ros
    events, transforms = [], []
    node.create_subscription(ShelfEvent, '/test/shelf_events', events.append, LATCHED)
    node.create_subscription(TFMessage, '/tf_static', transforms.append, TF_STATIC_LISTENER_QOS)
    publisher = node_process('sample_publisher', env={'PYTHONPATH': str(Path(__file__).parent)})
    try:
        spin_until(executor, lambda: events and transforms, timeout_s=30,
                   what='ShelfEvent and TFMessage from the other process')
        [tf_publisher] = node.get_publishers_info_by_topic('/tf_static')
    finally:
        code, _, err = interrupt_and_wait(publisher)
    assert code == 0, err

    event = events[0]
    assert (event.header.stamp.sec, event.header.stamp.nanosec) == (1_700_000_000, 250_000_000)
    assert event.header.frame_id == 'shelf_a_link'
    assert event.event_id == 'shelf_a:000042'
    assert event.shelf_id == 'shelf_a'
    assert list(event.slot_ids) == ['a_11', 'a_12']
    assert event.kind == ShelfEvent.PICK
    assert (event.started.sec, event.started.nanosec) == (1_699_999_999, 750_000_000)
    assert event.delta_grams == -2080.5
    assert [(c.sku, c.quantity, c.probability) for c in event.candidates] == [
        ('GB-MILK-1L', 2, 0.97), ('GB-WATER-750', 3, 0.02)]

    [transform] = transforms[0].transforms
    assert (transform.header.frame_id, transform.child_frame_id) == ('map', 'cam_07_link')
    t, r = transform.transform.translation, transform.transform.rotation
    assert (t.x, t.y, t.z) == (1.5, -2.25, 3.5)
    assert (r.x, r.y, r.z, r.w) == (0.0, 0.70710678, 0.0, 0.70710678)

    # The standard type's name and hash, so RViz and tf2 on a ROS host read our /tf.
    assert tf_publisher.topic_type == 'tf2_msgs/msg/TFMessage'
    assert str(tf_publisher.topic_type_hash) == STANDARD_TF_MESSAGE_HASH
