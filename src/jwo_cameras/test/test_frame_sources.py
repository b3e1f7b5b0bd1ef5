"""Frame sources without ROS: RealSense through a software device and its recording,
a video file through OpenCV, pairing, health counters and the sensor clock."""

import cv2
import numpy as np
import pytest

from jwo_cameras.camera_model import CameraModel
from jwo_cameras.frame_sources import (EndOfStream, FramePairer, OpenCvSource,
                                       RealSenseSource, SourceError)
from jwo_cameras.software_realsense import SoftwareRealSense
from jwo_cameras.stream_health import SensorClock, StreamHealth

MODEL = CameraModel(320, 240, 168.6, 168.6, 159.5, 119.5)
FPS = 15


def frames(count):
    for i in range(count):
        depth = np.full((240, 320), 3000 + i, np.uint16)
        depth[10, 20] = 0
        color = np.zeros((240, 320, 3), np.uint8)
        color[..., 0] = i
        yield 5.0 + i / FPS, i, depth, color


def read_all(source, count, timeout_s=2.0):
    out = []
    while len(out) < count:
        frame = source.read(timeout_s)
        assert frame is not None, f'only {len(out)} of {count} frames arrived'
        out.append(frame)
    return out


def test_realsense_source_reads_paired_depth_and_colour_from_a_software_device():
    camera = SoftwareRealSense(MODEL, FPS)
    source = RealSenseSource(320, 240, FPS, depth=True, color=True, device=camera.device)
    source.open()
    try:
        for time_s, number, depth, color in frames(6):
            camera.inject(time_s, number, depth, color)
        got = read_all(source, 6)
    finally:
        source.close()
    for i, frame in enumerate(got):
        assert frame.depth_mm is not None and frame.color_rgb is not None
        assert frame.depth_mm.dtype == np.uint16 and frame.depth_mm[0, 0] == 3000 + i
        assert frame.depth_mm[10, 20] == 0
        assert frame.color_rgb[0, 0, 0] == i
        assert frame.device_time_s == pytest.approx(5.0 + i / FPS, abs=1e-6)
        assert not frame.host_clock


def test_realsense_source_refuses_a_mode_the_device_lacks():
    camera = SoftwareRealSense(MODEL, FPS)
    source = RealSenseSource(640, 480, 30, depth=True, color=False, device=camera.device)
    with pytest.raises(SourceError, match=r'640x480@30.*offered: 320x240@15'):
        source.open()


def test_realsense_recording_plays_back_then_ends(tmp_path):
    path = str(tmp_path / 'software.db3')
    camera = SoftwareRealSense(MODEL, FPS)
    recorder = camera.record(path)
    writer = RealSenseSource(320, 240, FPS, depth=True, color=True, device=recorder)
    writer.open()
    for time_s, number, depth, color in frames(8):
        camera.inject(time_s, number, depth, color)
    read_all(writer, 8)
    writer.close()
    del writer, recorder
    camera = None

    source = RealSenseSource(320, 240, FPS, depth=True, color=True, recording=path,
                             real_time=False)
    source.open()
    got = []
    with pytest.raises(EndOfStream):
        while True:
            frame = source.read(2.0)
            assert frame is not None, 'the recording stalled instead of ending'
            got.append(frame)
    source.close()
    assert [int(f.depth_mm[0, 0]) - 3000 for f in got] == list(range(8))
    assert all(f.color_rgb is not None and f.color_rgb[0, 0, 0] == i for i, f in enumerate(got))


def test_missing_recording_is_a_source_error_naming_it(tmp_path):
    source = RealSenseSource(320, 240, FPS, True, True, recording=str(tmp_path / 'gone.db3'))
    with pytest.raises(SourceError, match='gone.db3'):
        source.open()


def write_video(path, count, size=(160, 120), fps=10.0):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), fps, size)
    assert writer.isOpened()
    for i in range(count):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        image[..., 2] = 40 * i              # red in BGR order
        writer.write(image)
    writer.release()


def test_opencv_source_plays_a_video_file_in_rgb_then_ends(tmp_path):
    path = tmp_path / 'clip.avi'
    write_video(path, 5)
    source = OpenCvSource(str(path), fps=10.0, real_time=False)
    source.open()
    got = []
    with pytest.raises(EndOfStream):
        while True:
            got.append(source.read(1.0))
    source.close()
    assert len(got) == 5
    assert [f.sequence for f in got] == list(range(5))
    assert [f.device_time_s for f in got] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    reds = [int(f.color_rgb[..., 0].mean()) for f in got]
    assert reds == pytest.approx([0, 40, 80, 120, 160], abs=4)
    assert all(int(f.color_rgb[..., 2].mean()) < 4 for f in got)


def test_opencv_source_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match='no such video file'):
        OpenCvSource(str(tmp_path / 'none.avi'), 10.0).open()


def test_pairer_pairs_by_time_and_lets_a_partnerless_frame_go_alone():
    pairer = FramePairer(('depth', 'color'), tolerance_s=0.02)
    d = np.zeros((1, 1), np.uint16)
    c = np.zeros((1, 1, 3), np.uint8)
    assert pairer.push('depth', 1.0, 0, d) == []
    (pair,) = pairer.push('color', 1.001, 0, c)
    assert pair.depth_mm is d and pair.color_rgb is c and pair.device_time_s == 1.0
    assert pairer.push('depth', 1.1, 1, d) == []          # its colour frame was lost
    assert pairer.push('depth', 1.2, 2, d) == []
    out = pairer.push('color', 1.2, 2, c)
    assert [(f.device_time_s, f.color_rgb is not None) for f in out] == [(1.1, False),
                                                                        (1.2, True)]


def test_health_counts_frames_missing_from_the_device_timeline():
    health = StreamHealth(fps=10.0, window_s=1.0)
    health.on_open()
    for i, device_s in enumerate([0.0, 0.1, 0.2, 0.5, 0.6]):     # 0.3 and 0.4 missing
        health.on_frame(device_s, 100.0 + 0.1 * i)
    snapshot = health.snapshot(100.4)
    assert (snapshot.frames, snapshot.dropped, snapshot.connected) == (5, 2, True)
    assert snapshot.rate_hz == pytest.approx(10.0)
    health.on_lost()
    health.on_open()
    health.on_frame(50.0, 101.0)            # a new session's clock starts anywhere
    assert health.snapshot(101.0).dropped == 2 and health.reconnects == 1
    assert health.snapshot(105.0).rate_hz == 0.0


def test_health_returns_each_gap_once_and_a_late_frame_opens_none():
    health = StreamHealth(fps=10.0)
    health.on_open()
    gaps = [health.on_frame(device_s, 100.0 + 0.1 * i)
            for i, device_s in enumerate([0.0, 0.1, 0.3, 0.2, 0.4, 1.0, 1.1])]
    assert gaps == [0, 0, 1, 0, 0, 5, 0]        # 0.2 came after 0.3: no second gap
    assert health.snapshot(100.7).dropped == 6


def test_sensor_clock_keeps_device_spacing_and_resyncs_on_a_jump():
    clock = SensorClock()
    assert clock.to_host(10.0, 1000.0) == 1000.0
    assert clock.to_host(10.5, 1000.53) == pytest.approx(1000.5)    # host jitter ignored
    assert clock.to_host(0.2, 1000.7) == pytest.approx(1000.7)      # device clock restarted


def write_camera_bag(path, count):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    from jwo_cameras.image_codec import encode
    store = get_typestore(Stores.ROS2_JAZZY)
    Image = store.types['sensor_msgs/msg/Image']
    Header = store.types['std_msgs/msg/Header']
    Time = store.types['builtin_interfaces/msg/Time']
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    topics = {stream: writer.add_connection(f'/cameras/cam_03/{stream}/image_raw',
                                            'sensor_msgs/msg/Image', typestore=store)
              for stream in ('depth', 'color')}
    for time_s, _, depth, color in frames(count):
        stamp = Time(int(time_s), round((time_s % 1) * 1e9))
        for stream, array, encoding in (('depth', depth, '16UC1'), ('color', color, 'rgb8')):
            fields = encode(array, encoding)
            msg = Image(Header(stamp, 'cam_03_optical_frame'), fields.height, fields.width,
                        encoding, 0, fields.step, np.frombuffer(fields.data, np.uint8))
            writer.write(topics[stream], round(time_s * 1e9),
                         store.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
    writer.close()


def test_bag_source_pairs_a_cameras_topics_with_the_bag_stamps(tmp_path):
    from jwo_cameras.frame_sources import BagSource
    write_camera_bag(tmp_path / 'sim', 4)
    source = BagSource(str(tmp_path / 'sim'), 'cam_03', depth=True, color=True, real_time=False)
    source.open()
    got = []
    with pytest.raises(EndOfStream):
        while True:
            got.append(source.read(1.0))
    source.close()
    assert [int(f.depth_mm[0, 0]) for f in got] == [3000, 3001, 3002, 3003]
    assert [int(f.color_rgb[0, 0, 0]) for f in got] == [0, 1, 2, 3]
    assert all(f.host_clock for f in got)
    assert [f.device_time_s for f in got] == pytest.approx([5 + i / FPS for i in range(4)])
    with pytest.raises(SourceError, match='none of the topics'):
        BagSource(str(tmp_path / 'sim'), 'cam_09', True, True).open()
