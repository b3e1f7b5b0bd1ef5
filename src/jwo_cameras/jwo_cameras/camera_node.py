"""Camera node: one camera of the store config -> images, camera_info and diagnostics.

Publishes `/cameras/<id>/depth/image_raw` (16UC1, millimetres) and
`/cameras/<id>/color/image_raw` (rgb8), each with its `camera_info`, framed in
`<id>_optical_frame` and stamped with the sensor time. A grab thread reads the source
(a RealSense, an OpenCV capture or a bag, `jwo_cameras.frame_sources`) so a blocking
read never stalls the executor; a lost or stalled source is closed and opened again.
Frame rate, dropped frames and reconnects go to `/diagnostics`.

`camera --cameras cam_01 cam_02 ...` runs many cameras as components of one process (one
executor), since localhost discovery allows only about 32 DDS participants per host.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.impl.implementation_singleton import rclpy_implementation
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from jwo_cameras.camera_model import camera_model
from jwo_cameras.frame_sources import (BagSource, EndOfStream, Frame, FrameSource,
                                       OpenCvSource, RealSenseSource, SourceError)
from jwo_cameras.messages import camera_info_msg, image_msg, to_time
from jwo_cameras.stream_health import SensorClock, StreamHealth
from jwo_common.frames import camera_optical_frame
from jwo_common.node_main import run_nodes
from jwo_common.parameters import declare_settings, param
from jwo_common.qos import SENSOR_QOS_CHOICES, sensor_qos
from jwo_common.store_config import Camera, StoreConfig, load_store_config

DIAGNOSTICS_TOPIC = '/diagnostics'
# How long one read may block, so a stop request is noticed promptly.
_READ_TIMEOUT_S = 0.1


def image_topic(camera_id: str, stream: str) -> str:
    return f'/cameras/{camera_id}/{stream}/image_raw'


def camera_info_topic(camera_id: str, stream: str) -> str:
    return f'/cameras/{camera_id}/{stream}/camera_info'


@dataclass(frozen=True)
class CameraSettings:
    store_config: str = param('', 'Path of the store config YAML', read_only=True)
    camera_id: str = param('', 'The camera of the store config this node drives', read_only=True)
    qos: str = param('reliable', 'QoS of the image and camera_info topics',
                     choices=SENSOR_QOS_CHOICES, read_only=True)
    bag: str = param('', 'rosbag2 file whose frames a playback camera publishes',
                     read_only=True)
    loop: bool = param(False, 'Play a file (video, recording, bag) again when it ends',
                       read_only=True)
    reconnect_delay_s: float = param(1.0, 'Wait between attempts to open a failed source',
                                     min_value=0.01, max_value=60.0)
    stall_timeout_s: float = param(2.0, 'No frame for this long counts as a lost stream',
                                   min_value=0.1, max_value=60.0)
    diagnostics_period_s: float = param(1.0, 'Period of the /diagnostics report',
                                        min_value=0.1, max_value=60.0, read_only=True)


def source_for(config: StoreConfig, camera: Camera, bag: str) -> FrameSource:
    """The frame source the store config names for `camera`; ValueError naming the field."""
    source = camera.source
    if source.kind == 'realsense':
        recording = str(config.resolve_path(source.recording)) if source.recording else None
        return RealSenseSource(camera.width, camera.height, camera.fps, camera.depth, True,
                               serial_number=source.serial_number, recording=recording)
    if source.kind == 'opencv':
        uri = source.uri
        if isinstance(uri, str) and '://' not in uri:
            uri = str(config.resolve_path(uri))
        return OpenCvSource(uri, camera.fps)
    if not bag:
        raise ValueError(f'camera {camera.id} has source kind playback: set parameter bag '
                         f'to the rosbag2 file to play')
    return BagSource(bag, camera.id, camera.depth, True)


class CameraNode(Node):
    def __init__(self, node_name: str = 'camera', source: FrameSource | None = None,
                 **kwargs):
        """`source` replaces the one the store config names (a RealSense software device
        in tests)."""
        super().__init__(node_name, **kwargs)
        self._settings = declare_settings(self, CameraSettings, self._on_settings)
        settings = self._settings
        config = load_store_config(settings.store_config)
        known = [c.id for c in config.cameras]
        if settings.camera_id not in known:
            raise ValueError(f'parameter camera_id: {settings.camera_id!r} is not a camera of '
                             f'{settings.store_config} (known: {known})')
        camera = config.camera(settings.camera_id)
        self._camera = camera
        self._source = source if source is not None else source_for(config, camera,
                                                                    settings.bag)
        model = camera_model(config, camera)
        self._frame_id = camera_optical_frame(camera.id)
        qos = sensor_qos(settings.qos)
        self._stream_publishers = {}
        for stream in ('depth', 'color'):
            if stream == 'depth' and not camera.depth:
                continue
            self._stream_publishers[stream] = (
                self.create_publisher(Image, image_topic(camera.id, stream), qos),
                self.create_publisher(CameraInfo, camera_info_topic(camera.id, stream), qos))
        self._model = model
        self._diagnostics = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self._health = StreamHealth(camera.fps)
        self._health_lock = threading.Lock()
        self._clock_map = SensorClock()
        self._finished = False
        self._last_dropped_reported = 0
        self._stop = threading.Event()
        # Ctrl-C shuts the context down before the nodes are destroyed: stop grabbing then.
        self.context.on_shutdown(self._stop.set)
        self.create_timer(settings.diagnostics_period_s, self._report)
        self._grabber = threading.Thread(target=self._grab_loop, name=f'grab-{camera.id}',
                                         daemon=True)
        self._grabber.start()
        self.get_logger().info(f'camera {camera.id}: {self._source.description}, '
                               f'{camera.width}x{camera.height}@{camera.fps:g}, qos {settings.qos}')

    def _on_settings(self, settings: CameraSettings) -> None:
        self._settings = settings

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _grab_loop(self) -> None:
        logger = self.get_logger()
        is_open = False
        last_frame_at = 0.0
        while not self._stop.is_set():
            if not is_open:
                try:
                    self._source.open()
                except SourceError as error:
                    logger.warning(f'{error}; retrying in {self._settings.reconnect_delay_s} s',
                                   throttle_duration_sec=30.0)
                    self._stop.wait(self._settings.reconnect_delay_s)
                    continue
                is_open = True
                last_frame_at = time.monotonic()
                self._clock_map.reset()
                with self._health_lock:
                    self._health.on_open()
            try:
                frame = self._source.read(_READ_TIMEOUT_S)
            except EndOfStream:
                self._source.close()
                is_open = False
                if self._settings.loop:
                    continue
                logger.info(f'{self._source.description}: end of stream')
                with self._health_lock:
                    self._finished = True
                    self._health.connected = False
                return
            except SourceError as error:
                logger.warning(f'{error}; reconnecting')
                self._lose_source()
                is_open = False
                continue
            if frame is None:
                if time.monotonic() - last_frame_at > self._settings.stall_timeout_s:
                    logger.warning(f'{self._source.description}: no frame for '
                                   f'{self._settings.stall_timeout_s} s; reconnecting')
                    self._lose_source()
                    is_open = False
                continue
            last_frame_at = time.monotonic()
            try:
                self._publish(frame)
            except rclpy_implementation.RCLError:
                if self.context.ok():
                    raise
                break   # the context shut down between the stop check and the publish
        if is_open:
            self._source.close()

    def _lose_source(self) -> None:
        self._source.close()
        with self._health_lock:
            self._health.on_lost()
        self._stop.wait(self._settings.reconnect_delay_s)

    def _publish(self, frame: Frame) -> None:
        expected = (self._camera.height, self._camera.width)
        for array in (frame.depth_mm, frame.color_rgb):
            if array is not None and array.shape[:2] != expected:
                # Calibration and detection assume the configured size; a wrong mode is no image.
                self.get_logger().error(
                    f'{self._source.description}: frame {array.shape[1]}x{array.shape[0]} but '
                    f'camera {self._camera.id} is {expected[1]}x{expected[0]}; dropping it',
                    throttle_duration_sec=10.0)
                return
        now_s = self._now_s()
        stamp_s = frame.device_time_s if frame.host_clock else \
            self._clock_map.to_host(frame.device_time_s, now_s)
        with self._health_lock:
            self._health.on_frame(frame.device_time_s, time.monotonic())
        header = Header(stamp=to_time(stamp_s), frame_id=self._frame_id)
        for stream, array, encoding in (('depth', frame.depth_mm, '16UC1'),
                                        ('color', frame.color_rgb, 'rgb8')):
            if array is None or stream not in self._stream_publishers:
                continue
            image_publisher, info_publisher = self._stream_publishers[stream]
            image_publisher.publish(image_msg(array, encoding, header))
            info_publisher.publish(camera_info_msg(self._model, header))

    def _report(self) -> None:
        with self._health_lock:
            health = self._health.snapshot(time.monotonic())
            finished = self._finished
        new_drops = health.dropped - self._last_dropped_reported
        self._last_dropped_reported = health.dropped
        if finished:
            level, message = DiagnosticStatus.OK, 'end of stream'
        elif not health.connected:
            level, message = DiagnosticStatus.ERROR, 'no connection to the source'
        elif health.rate_hz < 0.8 * self._camera.fps or new_drops > 0:
            level, message = DiagnosticStatus.WARN, \
                f'{health.rate_hz:.1f} Hz of {self._camera.fps:g}, {new_drops} frames dropped'
        else:
            level, message = DiagnosticStatus.OK, f'{health.rate_hz:.1f} Hz'
        values = {'frames': health.frames, 'dropped_frames': health.dropped,
                  'reconnects': health.reconnects, 'rate_hz': f'{health.rate_hz:.2f}',
                  'expected_rate_hz': f'{self._camera.fps:g}',
                  'last_frame_age_s': '' if health.last_frame_age_s is None
                  else f'{health.last_frame_age_s:.2f}',
                  'source': self._source.description}
        status = DiagnosticStatus(level=level, name=f'{self.get_name()}: camera {self._camera.id}',
                                  message=message, hardware_id=self._camera.id,
                                  values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
        self._diagnostics.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                                  status=[status]))

    def destroy_node(self) -> None:
        self._stop.set()
        self._grabber.join(timeout=5.0)
        super().destroy_node()


def main(args=None):
    """`camera --ros-args -p store_config:=... -p camera_id:=cam_01` drives one camera;
    `camera --cameras cam_01 cam_02 ... --ros-args -p store_config:=...` drives many, as
    components of this one process."""
    argv = remove_ros_args(args if args is not None else sys.argv)[1:]
    parser = argparse.ArgumentParser(prog='camera', description=main.__doc__)
    parser.add_argument('--cameras', nargs='+', metavar='CAMERA_ID',
                        help='store-config camera ids to drive in this process (instead of '
                             'the camera_id parameter)')
    options = parser.parse_args(argv)
    if not options.cameras:
        sys.exit(run_nodes([CameraNode], args))
    factories = [lambda camera_id=camera_id: CameraNode(
        f'camera_{camera_id}', parameter_overrides=[Parameter('camera_id', value=camera_id)])
        for camera_id in options.cameras]
    sys.exit(run_nodes(factories, args))


if __name__ == '__main__':
    main()
