import rclpy
from rclpy.executors import SingleThreadedExecutor
from tf2_msgs.msg import TFMessage

from jwo_common.frames import StaticTransform
from jwo_common.testing import spin_until
from jwo_common.tf import TF_STATIC_LISTENER_QOS, StaticTransformPublisher


def test_static_transforms_accumulate_and_reach_a_late_subscriber():
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        publisher_node = rclpy.create_node('static_tf_sender', context=context)
        static_tf = StaticTransformPublisher(publisher_node)
        static_tf.send([StaticTransform('map', 'cam_01_link', (1.0, 2.0, 3.0), (0, 0, 0, 1))])
        static_tf.send([StaticTransform('map', 'shelf_a_link', (4.0, 5.0, 0.0), (0, 0, 0, 1)),
                        StaticTransform('map', 'cam_01_link', (1.5, 2.0, 3.0), (0, 0, 0, 1))])

        # Joins after both sends: transient-local durability must still deliver.
        listener = rclpy.create_node('static_tf_listener', context=context)
        received = []
        listener.create_subscription(TFMessage, '/tf_static', received.append,
                                     TF_STATIC_LISTENER_QOS)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(publisher_node)
        executor.add_node(listener)
        spin_until(executor, lambda: received, 20, 'latched /tf_static')

        latest = {t.child_frame_id: t for t in received[-1].transforms}
        assert set(latest) == {'cam_01_link', 'shelf_a_link'}
        assert latest['cam_01_link'].transform.translation.x == 1.5   # the resend replaced it
        assert latest['shelf_a_link'].header.frame_id == 'map'
        executor.shutdown()
    finally:
        context.try_shutdown()
