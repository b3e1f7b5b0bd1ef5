"""Camera nodes with real rclpy: a software RealSense (frames, stamps, diagnostics,
reconnect after a stall), a RealSense recording, a video file, and many cameras in one
process."""

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from jwo_cameras.camera_model import CameraModel
from jwo_cameras.camera_node import CameraNode
from jwo_cameras.frame_sources import RealSenseSource
from jwo_cameras.image_codec import decode
from jwo_cameras.software_realsense import SoftwareRealSense
from jwo_common.testing import interrupt_and_wait, node_process, spin_until

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
MODEL = CameraModel(320, 240, 168.6, 168.6, 159.5, 119.5)
FPS = 15


@pytest.fixture
def ros():
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    probe = rclpy.create_node('probe', context=context)
    executor.add_node(probe)
    nodes = []

    def add(node):
        nodes.append(node)
        executor.add_node(node)
        return node
    yield context, executor, probe, add
    for node in nodes:
        node.destroy_node()
    executor.shutdown()
    rclpy.shutdown(context=context)


def d435_store_data():
    """The London store with its first two overhead cameras at the D435's 320 x 240."""
    data = yaml.safe_load(STORE.read_text())
    for camera in data['cameras'][:2]:
        camera.update(width=MODEL.width, height=MODEL.height,
                      intrinsics={'fx': MODEL.fx, 'fy': MODEL.fy, 'cx': MODEL.cx, 'cy': MODEL.cy})
    return data


def store_with(tmp_path, camera_id=None, source=None):
    data = d435_store_data()
    if camera_id is not None:
        next(c for c in data['cameras'] if c['id'] == camera_id)['source'] = source
    path = tmp_path / 'store.yaml'
    path.write_text(yaml.safe_dump(data))
    return path


def collect(probe, topics):
    got = {topic: [] for topic in topics}
    for topic, kind in topics.items():
        probe.create_subscription(kind, topic, got[topic].append, 100)
    return got


def depth_frame(i):
    depth = np.full((240, 320), 3000, np.uint16)
    depth[100:140, 150:170] = 1400 + i
    return depth


def test_software_realsense_frames_are_published_stamped_and_reconnect_after_a_stall(ros, tmp_path):
    context, executor, probe, add = ros
    camera = SoftwareRealSense(MODEL, FPS)
    source = RealSenseSource(320, 240, FPS, depth=True, color=True, device=camera.device)
    node = add(CameraNode(context=context, source=source, parameter_overrides=[
        Parameter('store_config', value=str(store_with(tmp_path))),
        Parameter('camera_id', value='cam_01'),
        Parameter('stall_timeout_s', value=0.3), Parameter('reconnect_delay_s', value=0.05),
        Parameter('diagnostics_period_s', value=0.1)]))
    got = collect(probe, {'/cameras/cam_01/depth/image_raw': Image,
                          '/cameras/cam_01/color/image_raw': Image,
                          '/cameras/cam_01/depth/camera_info': CameraInfo,
                          '/diagnostics': DiagnosticArray})
    depth, color = got['/cameras/cam_01/depth/image_raw'], got['/cameras/cam_01/color/image_raw']
    spin_until(executor, lambda: node.count_subscribers('/cameras/cam_01/depth/image_raw') and
               probe.count_publishers('/cameras/cam_01/color/image_raw'), 10, 'discovery')

    def inject(first, count):
        for i in range(first, first + count):
            camera.inject(100.0 + i / FPS, i, depth_frame(i), np.full((240, 320, 3), i, np.uint8))

    def diagnostics(key):
        values = [{kv.key: kv.value for kv in s.values} | {'level': s.level}
                  for array in got['/diagnostics'] for s in array.status
                  if s.hardware_id == 'cam_01']
        return [v for v in values if key(v)]

    spin_until(executor, lambda: diagnostics(lambda v: v['reconnects'] == '0' and
                                             v['level'] == DiagnosticStatus.ERROR) or
               diagnostics(lambda v: v['frames'] == '0'), 10, 'a first report')
    inject(0, 5)
    spin_until(executor, lambda: len(depth) >= 5 and len(color) >= 5, 10, '5 frames')
    for i, msg in enumerate(depth):
        assert (msg.encoding, msg.header.frame_id) == ('16UC1', 'cam_01_optical_frame')
        np.testing.assert_array_equal(decode(msg), depth_frame(i))
        assert decode(color[i])[0, 0, 0] == i and color[i].encoding == 'rgb8'
        assert color[i].header.stamp == msg.header.stamp
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in depth]
    assert np.diff(stamps) == pytest.approx(1 / FPS, abs=1e-6)     # the sensor's own timing
    now_s = node.get_clock().now().nanoseconds * 1e-9
    assert abs(stamps[-1] - now_s) < 5.0                          # ...on the ROS clock
    spin_until(executor, lambda: got['/cameras/cam_01/depth/camera_info'], 5, 'camera_info')
    info = got['/cameras/cam_01/depth/camera_info'][0]
    assert (info.width, info.height, info.k[0], info.k[2]) == (320, 240, 168.6, 159.5)
    assert info.header.frame_id == 'cam_01_optical_frame'

    # The camera goes quiet: the node reconnects, and frames flow again afterwards.
    spin_until(executor, lambda: diagnostics(lambda v: int(v['reconnects']) >= 1), 10,
               'a reconnect after the stall')
    spin_until(executor, lambda: diagnostics(lambda v: int(v['reconnects']) >= 1 and
                                             v['level'] != DiagnosticStatus.ERROR), 10,
               'the source open again')
    inject(5, 3)
    spin_until(executor, lambda: len(depth) >= 8, 10, 'frames after the reconnect')
    assert decode(depth[-1])[120, 160] == 1400 + 7
    spin_until(executor, lambda: diagnostics(lambda v: v['frames'] == '8'), 5,
               'the 8 frames counted in /diagnostics')


def record(path, count):
    camera = SoftwareRealSense(MODEL, FPS)
    recorder = camera.record(str(path))
    writer = RealSenseSource(320, 240, FPS, depth=True, color=True, device=recorder)
    writer.open()
    for i in range(count):
        camera.inject(1.0 + i / FPS, i, depth_frame(i), np.full((240, 320, 3), i, np.uint8))
    for _ in range(count):
        assert writer.read(2.0) is not None
    writer.close()


def test_realsense_recording_named_in_the_store_config_is_played(ros, tmp_path):
    context, executor, probe, add = ros
    record(tmp_path / 'cam_02.db3', 6)
    store = store_with(tmp_path, 'cam_02', {'kind': 'realsense', 'recording': 'cam_02.db3'})
    got = collect(probe, {'/cameras/cam_02/depth/image_raw': Image})
    depth = got['/cameras/cam_02/depth/image_raw']
    add(CameraNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(store)), Parameter('camera_id', value='cam_02'),
        Parameter('loop', value=True)]))
    recorded = [1400 + i for i in range(6)]

    def one_whole_pass():       # discovery may miss the first frames of the first pass
        values = [int(decode(m)[120, 160]) for m in depth]
        return any(values[i:i + 6] == recorded for i in range(len(values)))
    spin_until(executor, one_whole_pass, 15, 'every recorded frame in order')


def test_a_shutdown_stops_the_grab_thread_even_mid_publish(tmp_path, monkeypatch):
    """Ctrl-C shuts the context down before the nodes are destroyed; a grab thread that
    went on publishing into it crashed the process (exit -6) in CI."""
    crashes = []
    monkeypatch.setattr('threading.excepthook', crashes.append)
    record(tmp_path / 'cam_02.db3', 6)
    store = store_with(tmp_path, 'cam_02', {'kind': 'realsense', 'recording': 'cam_02.db3'})
    context = rclpy.Context()
    rclpy.init(context=context)
    node = CameraNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(store)), Parameter('camera_id', value='cam_02'),
        Parameter('loop', value=True)])
    try:
        publishing = node.create_subscription(Image, '/cameras/cam_02/depth/image_raw',
                                              lambda _: None, 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        spin_until(executor, lambda: node.count_subscribers(publishing.topic_name), 10,
                   'the node seeing its own subscriber')
        executor.spin_once(timeout_sec=0.3)     # frames flowing at the moment of shutdown
        grabbers = [t for t in threading.enumerate() if t.name == 'grab-cam_02']
        assert grabbers, 'no grab thread to stop'
        rclpy.shutdown(context=context)
        grabbers[0].join(timeout=5.0)
        assert not grabbers[0].is_alive()
        assert crashes == []
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def write_video(path, count, size=(640, 480), fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    for i in range(count):
        writer.write(np.full((size[1], size[0], 3), (0, 0, 30 * i), np.uint8))
    writer.release()


def test_video_file_camera_waits_for_its_file_publishes_colour_then_reports_the_end(ros, tmp_path):
    context, executor, probe, add = ros
    store = store_with(tmp_path, 'gate_cam', {'kind': 'opencv', 'uri': 'gate.avi'})
    color = []
    probe.create_subscription(Image, '/cameras/gate_cam/color/image_raw', color.append,
                              qos_profile_sensor_data)
    diagnostics = collect(probe, {'/diagnostics': DiagnosticArray})['/diagnostics']
    node = add(CameraNode(context=context, parameter_overrides=[
        Parameter('store_config', value=str(store)), Parameter('camera_id', value='gate_cam'),
        Parameter('qos', value='sensor_data'), Parameter('diagnostics_period_s', value=0.1),
        Parameter('reconnect_delay_s', value=0.05)]))
    assert node.count_publishers('/cameras/gate_cam/depth/image_raw') == 0

    def statuses():
        return [s for a in diagnostics for s in a.status if s.hardware_id == 'gate_cam']
    spin_until(executor, lambda: node.count_subscribers('/cameras/gate_cam/color/image_raw') and
               any(s.level == DiagnosticStatus.ERROR for s in statuses()), 10,
               'discovery and an ERROR report while the file is missing')
    write_video(tmp_path / 'partial.avi', 6)
    (tmp_path / 'partial.avi').rename(tmp_path / 'gate.avi')      # appears whole
    spin_until(executor, lambda: len(color) >= 6, 15, 'the six video frames')
    reds = [int(decode(m)[..., 0].mean()) for m in color]
    assert reds == pytest.approx([0, 30, 60, 90, 120, 150], abs=4)
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in color]
    assert np.diff(stamps) == pytest.approx(0.1, abs=1e-6)
    spin_until(executor, lambda: any(s.message == 'end of stream' for s in statuses()), 10,
               'end of stream in /diagnostics')


def test_many_cameras_run_in_one_process_and_a_bad_camera_id_is_one_line(ros, tmp_path):
    context, executor, probe, add = ros
    process = node_process('jwo_cameras.camera_node', ros_args=[
        '-p', f'store_config:={STORE}', '-p', 'camera_id:=cam_99'])
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "camera_id: 'cam_99' is not a camera" in err and 'Traceback' not in err

    data = d435_store_data()
    for camera in data['cameras'][:2]:
        record(tmp_path / f"{camera['id']}.db3", 3)
        camera['source'] = {'kind': 'realsense', 'recording': f"{camera['id']}.db3"}
    (tmp_path / 'store.yaml').write_text(yaml.safe_dump(data))
    got = collect(probe, {'/cameras/cam_01/depth/image_raw': Image,
                          '/cameras/cam_02/depth/image_raw': Image})
    process = node_process('jwo_cameras.camera_node', '--cameras', 'cam_01', 'cam_02', ros_args=[
        '-p', f'store_config:={tmp_path / "store.yaml"}', '-p', 'loop:=true'])
    try:
        spin_until(executor, lambda: all(len(v) >= 3 for v in got.values()), 30,
                   'frames of both cameras')
        # The graph reaches the probe on its own schedule, after the frames at times.
        spin_until(executor, lambda: {'camera_cam_01', 'camera_cam_02'} <= {
            name for name, _ in probe.get_node_names_and_namespaces()}, 30,
            'both cameras as nodes of one process')
    finally:
        code, _, err = interrupt_and_wait(process)
    assert code == 0, err
