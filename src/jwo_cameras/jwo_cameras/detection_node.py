"""Shopper detection node: one node for many overhead depth cameras. Subscribes each camera's
`/cameras/<id>/depth/image_raw` (16UC1, mm) and publishes the people it sees as a
`ShopperDetectionArray` on `/cameras/<id>/detections`, stamped with the image's sensor time,
positions in `map` (the camera's calibration from the store config). `/diagnostics` says per
camera how many frames were detected, how many people, how long detection takes, and how many
frames never arrived (missing from the camera's timeline).

The depth images are taken best effort by default: a frame lost on the way is skipped.
Taken reliably, every later frame of that camera waits until the lost one is resent (the
writer repairs on its heartbeat, seconds apart) and is held meanwhile: in the 60-minute
fault soak, cameras then delivered nothing for 1-2 s and then a burst, and this process's
heap came to hold about 1,400 serialized depth frames (53 MB). A late depth frame is of no
use to tracking anyway.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from jwo_interfaces.msg import ShopperDetection, ShopperDetectionArray
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import Image

from jwo_cameras.camera_model import camera_model
from jwo_cameras.camera_node import image_topic
from jwo_cameras.detection import (DetectorSettings, OverheadDetector, PersonDetection,
                                   floor_area, shelf_boxes)
from jwo_cameras.image_codec import decode
from jwo_cameras.stream_health import StreamHealth
from jwo_common.frames import MAP_FRAME, optical_to_map
from jwo_common.node_main import run_node
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import load_store_config


def detections_topic(camera_id: str) -> str:
    return f'/cameras/{camera_id}/detections'


@dataclass(frozen=True)
class ShopperDetectionSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    cameras: list[str] = param([], 'Depth cameras to detect in; empty = every depth camera',
                               read_only=True)
    image_qos: str = param('sensor_data', 'QoS of the depth image subscriptions: sensor_data '
                           '(best effort: a lost frame is skipped) or reliable (a lost frame '
                           'holds up the later ones until it is resent)',
                           choices=SENSOR_QOS_CHOICES, read_only=True)
    # Shallow: behind on a busy host, the node detects in each camera's newest frames
    # instead of working through a backlog that is stale by the time it is read (with 10,
    # the 24-camera bench's detections were 0.7 s old at p95).
    image_queue_depth: int = param(2, 'Depth frames of each camera that wait while the node '
                                   'is busy; older ones are dropped', read_only=True,
                                   min_value=1, max_value=100)
    qos: str = param('reliable', 'QoS of the detections published (fusion takes them '
                     'reliably)', choices=SENSOR_QOS_CHOICES, read_only=True)
    head_separation_m: float = param(DetectorSettings.head_separation_m,
                                     'Two heads are at least this far apart', read_only=True,
                                     min_value=0.1, max_value=1.0)
    min_head_height_m: float = param(DetectorSettings.min_head_height_m,
                                     'Lower local maxima are not heads', read_only=True,
                                     min_value=0.5, max_value=2.0)
    depth_noise_mm_at_1m: float = param(DetectorSettings.depth_noise_mm_at_1m,
                                        "The cameras' depth noise (1 sigma, mm) at 1 m, as "
                                        'calibration measured it (it grows with the square of '
                                        'the distance): the shelves are widened by it and the '
                                        'height map smoothed',
                                        read_only=True, min_value=0.0, max_value=50.0)
    diagnostics_period_s: float = param(1.0, 'Seconds between diagnostics messages',
                                        read_only=True, min_value=0.1, max_value=60.0)


@dataclass
class _CameraStats:
    frames: int = 0
    people: int = 0
    busy_s: float = 0.0


def detection_msg(person: PersonDetection) -> ShopperDetection:
    reach = person.reach_point or (0.0, 0.0, 0.0)
    return ShopperDetection(
        position=Point(x=person.x_m, y=person.y_m, z=person.head_z_m),
        position_stddev_m=person.position_stddev_m, confidence=person.confidence,
        reaching=person.reach_point is not None,
        reach_point=Point(x=reach[0], y=reach[1], z=reach[2]))


class ShopperDetectionNode(Node):
    def __init__(self, **kwargs):
        super().__init__('shopper_detection', **kwargs)
        settings = declare_settings(self, ShopperDetectionSettings)
        config = load_store_config(settings.store_config)
        depth_cameras = {c.id: c for c in config.cameras if c.depth}
        unknown = sorted(set(settings.cameras) - set(depth_cameras))
        if unknown:
            raise ValueError(f'parameter cameras: {unknown} are not depth cameras of '
                             f'{settings.store_config} (depth cameras: {sorted(depth_cameras)})')
        chosen = settings.cameras or sorted(depth_cameras)
        detector_settings = DetectorSettings(head_separation_m=settings.head_separation_m,
                                             min_head_height_m=settings.min_head_height_m,
                                             depth_noise_mm_at_1m=settings.depth_noise_mm_at_1m)
        shelves, floor = shelf_boxes(config), floor_area(config)
        image_qos = sensor_qos(settings.image_qos, depth=settings.image_queue_depth)
        qos = sensor_qos(settings.qos)
        self._detectors, self._detection_publishers, self._stats = {}, {}, {}
        self._health: dict[str, StreamHealth] = {}
        # Frames DDS reports lost on the way (gaps in the writer's sequence), per camera. The
        # other missing frames were taken over by newer ones while this node was busy.
        self._lost_in_transport: dict[str, int] = {}
        for camera_id in chosen:
            camera = depth_cameras[camera_id]
            self._detectors[camera_id] = OverheadDetector(
                camera_model(config, camera), optical_to_map(camera), shelves, floor,
                detector_settings)
            self._detection_publishers[camera_id] = self.create_publisher(
                ShopperDetectionArray, detections_topic(camera_id), qos)
            self._stats[camera_id] = _CameraStats()
            self._health[camera_id] = StreamHealth(camera.fps)
            self._health[camera_id].on_open()
            self._lost_in_transport[camera_id] = 0
            self.create_subscription(
                Image, image_topic(camera_id, 'depth'),
                lambda msg, c=camera_id: self._on_depth(c, msg), image_qos,
                event_callbacks=SubscriptionEventCallbacks(
                    message_lost=lambda status, c=camera_id: self._on_lost(c, status)))
        self._diagnostics = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(settings.diagnostics_period_s, self._publish_diagnostics)
        self.get_logger().info(f'detecting shoppers in {len(chosen)} depth cameras of store '
                               f'{config.store.id}')

    def _on_lost(self, camera_id: str, status) -> None:
        self._lost_in_transport[camera_id] = status.total_count

    def _on_depth(self, camera_id: str, msg: Image) -> None:
        if msg.encoding != '16UC1':
            self.get_logger().warning(f'{camera_id}: depth image in {msg.encoding}, expected '
                                      f'16UC1 (mm); dropped', throttle_duration_sec=10.0)
            return
        started = time.perf_counter()
        self._health[camera_id].on_frame(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
                                         time.monotonic())
        try:
            people = self._detectors[camera_id].detect(decode(msg))
        except ValueError as error:     # ImageCodecError among them
            self.get_logger().warning(f'{camera_id}: unreadable depth image: {error}',
                                      throttle_duration_sec=10.0)
            return
        stats = self._stats[camera_id]
        stats.busy_s += time.perf_counter() - started
        stats.frames += 1
        stats.people += len(people)
        out = ShopperDetectionArray(detections=[detection_msg(p) for p in people])
        out.header.stamp = msg.header.stamp
        out.header.frame_id = MAP_FRAME
        self._detection_publishers[camera_id].publish(out)

    def _publish_diagnostics(self) -> None:
        statuses = []
        for camera_id, stats in self._stats.items():
            health = self._health[camera_id]
            level = DiagnosticStatus.OK if stats.frames else DiagnosticStatus.WARN
            statuses.append(DiagnosticStatus(
                level=level, name=f'{self.get_name()}: {camera_id}', hardware_id=camera_id,
                message='detecting' if stats.frames else 'no depth frames',
                values=[KeyValue(key='frames', value=str(stats.frames)),
                        KeyValue(key='people', value=str(stats.people)),
                        KeyValue(key='received_frames', value=str(health.frames)),
                        KeyValue(key='missing_frames', value=str(health.dropped)),
                        KeyValue(key='lost_in_transport',
                                 value=str(self._lost_in_transport[camera_id])),
                        KeyValue(key='mean_detect_ms',
                                 value=f'{1000 * stats.busy_s / max(stats.frames, 1):.2f}')]))
            self._stats[camera_id] = _CameraStats()
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics.publish(array)


def main(args=None):
    run_node(ShopperDetectionNode, args)


if __name__ == '__main__':
    main()
