"""Writes a simulation into a rosbag2 (MCAP, zstd-compressed chunks) bag with `rosbags`,
ground truth beside it.

Topics (message definitions embedded, so standard rosbag2 tools and rosbags' AnyReader
decode them; header stamps are sensor time; log time = stamp, except a load-cell batch,
logged when its last sample is in):
  /clock                                 rosgraph_msgs/msg/Clock, every 100 ms
  /tf_static                             tf2_msgs/msg/TFMessage, once at 0 s, offered
                                         transient-local (a player latches it)
  /shelves/<shelf_id>/load_cells         jwo_interfaces/msg/LoadCellReadings, per 100 ms
  /gates/entry_scans                     jwo_interfaces/msg/GateEvent ENTRY at each arrival:
                                         the entry scanner's decoded output, for stacks
                                         without the QR gate node
  /cameras/<cam>/depth/image_raw         sensor_msgs/msg/Image 16UC1 (mm, 0 = no depth),
  /cameras/<cam>/depth/camera_info       sensor_msgs/msg/CameraInfo, per overhead frame
  /cameras/<cam>/color/image_raw         sensor_msgs/msg/Image rgb8 (+ camera_info), overhead
                                         cameras when scenario.overhead_color; always for the
                                         entry gate's scanner camera (QR code of the token)
  /rfid/exit_reader/reads                jwo_interfaces/msg/RfidRead, tags carried out
No exit events: exits are for the cameras to see. Frame ids: `<cam>_optical_frame`,
`<shelf>_link`, `map`, `exit_reader_antenna_<port>`.
Files beside the messages: `ground_truth.json` (see jwo_sim.simulation; plus `rfid_reads`)
and `scenario.yaml`. Sim time t maps to stamp start_unix_s + t.
Messages are produced lazily and merged in log-time order, so memory stays small.
"""

from __future__ import annotations

import heapq
import json
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, \
    QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.enums import CompressionFormat, CompressionMode
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from jwo_common.frames import MAP_FRAME, camera_optical_frame, shelf_frame, \
    store_static_transforms
from jwo_sim.gate import gate_frames, gate_scanner_cameras
from jwo_sim.load_cells import load_cell_batches
from jwo_sim.render import CameraFrame, CameraModel, camera_frames, camera_model, \
    overhead_cameras, shapes_cache
from jwo_sim.rfid import antenna_frame, exit_reads
from jwo_sim.scenario import scenario_to_yaml
from jwo_sim.simulation import SimulationResult

# The package is installed editable from the repo (scripts/setup.sh), beside the .msg files.
INTERFACES_MSG_DIR = Path(__file__).resolve().parents[2] / 'jwo_interfaces' / 'msg'
CLOCK_PERIOD_S = 0.1
GROUND_TRUTH_FILE = 'ground_truth.json'
SCENARIO_FILE = 'scenario.yaml'
LOAD_CELL_TYPE = 'jwo_interfaces/msg/LoadCellReadings'
GATE_EVENT_TYPE = 'jwo_interfaces/msg/GateEvent'
RFID_TYPE = 'jwo_interfaces/msg/RfidRead'
IMAGE_TYPE = 'sensor_msgs/msg/Image'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
ENTRY_SCANS_TOPIC = '/gates/entry_scans'
LATCHED_TOPICS = frozenset({'/tf_static'})


def load_cells_topic(shelf_id: str) -> str:
    return f'/shelves/{shelf_id}/load_cells'


def image_topic(camera_id: str, stream: str) -> str:
    """stream: 'depth' or 'color'."""
    return f'/cameras/{camera_id}/{stream}/image_raw'


def camera_info_topic(camera_id: str, stream: str) -> str:
    return f'/cameras/{camera_id}/{stream}/camera_info'


def rfid_topic(reader_id: str) -> str:
    return f'/rfid/{reader_id}/reads'


def jwo_typestore(msg_dir: Path = INTERFACES_MSG_DIR) -> Typestore:
    """ROS 2 Jazzy types plus every jwo_interfaces message from its .msg text."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for path in sorted(msg_dir.glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                        f'jwo_interfaces/msg/{path.stem}'))
    store.register(types)
    return store


def offered_qos(topic: str) -> Qos:
    """Reliable keep-last; transient-local (latched) for LATCHED_TOPICS."""
    zero = QosTime(0, 0)
    latched = topic in LATCHED_TOPICS
    return Qos(QosHistory.KEEP_LAST, 1 if latched else 100, QosReliability.RELIABLE,
               QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


# A pending message: (log time ns, topic, type, build) where build() makes the message.
Pending = tuple[int, str, str, Callable[[], object]]


class _Messages:
    """Builders of every message type of a bag, stamped from sim time."""

    def __init__(self, store: Typestore, start_unix_s: int):
        self.types = store.types
        self._start_ns = start_unix_s * 10**9

    def log_ns(self, t_s: float) -> int:
        return self._start_ns + round(t_s * 1e9)

    def stamp(self, t_s: float):
        ns = self.log_ns(t_s)
        return self.types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9)

    def header(self, t_s: float, frame_id: str):
        return self.types['std_msgs/msg/Header'](stamp=self.stamp(t_s), frame_id=frame_id)

    def image(self, t_s: float, frame_id: str, pixels: np.ndarray, encoding: str):
        height, width = pixels.shape[:2]
        return self.types[IMAGE_TYPE](
            header=self.header(t_s, frame_id), height=height, width=width, encoding=encoding,
            is_bigendian=0, step=pixels.strides[0],
            data=np.ascontiguousarray(pixels).view(np.uint8).ravel())

    def camera_info(self, t_s: float, model: CameraModel):
        k = model.k
        projection = np.zeros((3, 4))
        projection[:, :3] = k
        return self.types[CAMERA_INFO_TYPE](
            header=self.header(t_s, camera_optical_frame(model.camera_id)),
            height=model.height, width=model.width, distortion_model=model.distortion_model,
            d=np.asarray(model.distortion, dtype=np.float64), k=k.ravel().astype(np.float64),
            r=np.eye(3).ravel(), p=projection.ravel(), binning_x=0, binning_y=0,
            roi=self.types['sensor_msgs/msg/RegionOfInterest'](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def _camera_messages(messages: _Messages, frames: Iterable[CameraFrame],
                     model: CameraModel) -> Iterator[Pending]:
    frame_id = camera_optical_frame(model.camera_id)
    for frame in frames:
        log_ns = messages.log_ns(frame.t_s)
        for stream, pixels, encoding in (('depth', frame.depth_mm, '16UC1'),
                                         ('color', frame.rgb, 'rgb8')):
            if pixels is None:
                continue
            yield (log_ns, camera_info_topic(model.camera_id, stream), CAMERA_INFO_TYPE,
                   lambda t_s=frame.t_s: messages.camera_info(t_s, model))
            yield (log_ns, image_topic(model.camera_id, stream), IMAGE_TYPE,
                   lambda t_s=frame.t_s, p=pixels, e=encoding: messages.image(t_s, frame_id,
                                                                              p, e))


def _pending_messages(result: SimulationResult, messages: _Messages) -> list[Iterator[Pending]]:
    """One time-ordered stream per source."""
    types = messages.types
    config, scenario = result.config, result.scenario

    def static() -> Iterator[Pending]:
        transforms = [types['geometry_msgs/msg/TransformStamped'](
            header=messages.header(0.0, t.parent), child_frame_id=t.child,
            transform=types['geometry_msgs/msg/Transform'](
                translation=types['geometry_msgs/msg/Vector3'](*t.translation),
                rotation=types['geometry_msgs/msg/Quaternion'](*t.rotation_xyzw)))
            for t in store_static_transforms(config)]
        yield (messages.log_ns(0.0), '/tf_static', 'tf2_msgs/msg/TFMessage',
               lambda: types['tf2_msgs/msg/TFMessage'](transforms=transforms))

    def clock() -> Iterator[Pending]:
        for k in range(int(scenario.duration_s / CLOCK_PERIOD_S) + 1):
            t_s = k * CLOCK_PERIOD_S
            yield (messages.log_ns(t_s), '/clock', 'rosgraph_msgs/msg/Clock',
                   lambda t_s=t_s: types['rosgraph_msgs/msg/Clock'](clock=messages.stamp(t_s)))

    def load_cells(shelf_id: str) -> Iterator[Pending]:
        for batch in load_cell_batches(result.signals[shelf_id]):
            last_s = batch.stamp_s + (len(batch.grams) - 1) / batch.sample_rate_hz
            yield (messages.log_ns(last_s), load_cells_topic(shelf_id), LOAD_CELL_TYPE,
                   lambda b=batch: types[LOAD_CELL_TYPE](
                       header=messages.header(b.stamp_s, shelf_frame(shelf_id)),
                       shelf_id=shelf_id, sample_rate_hz=b.sample_rate_hz,
                       slot_ids=list(b.slot_ids), sample_count=len(b.grams),
                       grams=b.grams.ravel()))

    def entry_scans() -> Iterator[Pending]:
        gate_event = types[GATE_EVENT_TYPE]
        entry_gate = config.gates_of_kind('entry')[0].id
        for index, shopper in enumerate(scenario.shoppers):
            event_id = f'entry_{scenario.seed}_{index:04d}'
            yield (messages.log_ns(shopper.arrival_s), ENTRY_SCANS_TOPIC, GATE_EVENT_TYPE,
                   lambda s=shopper, e=event_id: gate_event(
                       header=messages.header(s.arrival_s, MAP_FRAME), event_id=e,
                       gate_id=entry_gate, kind=gate_event.ENTRY, session_id=e,
                       account_token=s.account_token, party_size=s.party_size, track_id='',
                       signature=types['jwo_interfaces/msg/Signature'](
                           key_id='', nonce='', signed_at=messages.stamp(0.0),
                           ed25519=np.zeros(0, dtype=np.uint8))))

    def rfid() -> Iterator[Pending]:
        for read in exit_reads(result):
            yield (messages.log_ns(read.t_s), rfid_topic(read.reader_id), RFID_TYPE,
                   lambda r=read: types[RFID_TYPE](
                       header=messages.header(r.t_s, antenna_frame(r.reader_id,
                                                                   r.antenna_port)),
                       reader_id=r.reader_id, antenna_port=r.antenna_port, epc=r.epc,
                       rssi_dbm=r.rssi_dbm))

    shapes_at = shapes_cache(result)
    streams = [static(), clock(), entry_scans(), rfid()]
    streams += [load_cells(shelf.id) for shelf in config.shelves]
    streams += [_camera_messages(messages, camera_frames(result, camera, shapes_at),
                                 camera_model(config, camera))
                for camera in overhead_cameras(config)]
    streams += [_camera_messages(messages, gate_frames(result, camera),
                                 camera_model(config, camera))
                for camera in gate_scanner_cameras(result)]
    return streams


def bag_topics(result: SimulationResult) -> list[tuple[str, str]]:
    """(topic, type) of every connection the bag of `result` has, sorted."""
    config = result.config
    topics = {('/tf_static', 'tf2_msgs/msg/TFMessage'), ('/clock', 'rosgraph_msgs/msg/Clock'),
              (ENTRY_SCANS_TOPIC, GATE_EVENT_TYPE)}
    topics |= {(load_cells_topic(shelf.id), LOAD_CELL_TYPE) for shelf in config.shelves}
    topics |= {(rfid_topic(read.reader_id), RFID_TYPE) for read in exit_reads(result)}
    streams = [(camera.id, 'depth') for camera in overhead_cameras(config)]
    if result.scenario.overhead_color:
        streams += [(camera.id, 'color') for camera in overhead_cameras(config)]
    streams += [(camera.id, 'color') for camera in gate_scanner_cameras(result)]
    for camera_id, stream in streams:
        topics |= {(image_topic(camera_id, stream), IMAGE_TYPE),
                   (camera_info_topic(camera_id, stream), CAMERA_INFO_TYPE)}
    return sorted(topics)


def write_bag(result: SimulationResult, path: Path | str) -> None:
    """Writes the bag directory `path` (must not exist) plus its ground truth files."""
    path = Path(path)
    store = jwo_typestore()
    messages = _Messages(store, result.scenario.start_unix_s)
    ordered = heapq.merge(*_pending_messages(result, messages), key=lambda m: (m[0], m[1]))
    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connections = {topic: writer.add_connection(topic, msgtype, typestore=store,
                                                    offered_qos_profiles=[offered_qos(topic)])
                       for topic, msgtype in bag_topics(result)}
        for log_ns, topic, msgtype, build in ordered:
            writer.write(connections[topic], log_ns, store.serialize_cdr(build(), msgtype))
    truth = result.ground_truth()
    truth['rfid_reads'] = [dict(t_s=read.t_s, reader_id=read.reader_id,
                                antenna_port=read.antenna_port, epc=read.epc,
                                rssi_dbm=read.rssi_dbm, account_token=read.account_token)
                           for read in exit_reads(result)]
    (path / GROUND_TRUTH_FILE).write_text(json.dumps(truth, sort_keys=True, indent=1) + '\n',
                                          encoding='utf-8')
    (path / SCENARIO_FILE).write_text(scenario_to_yaml(result.scenario), encoding='utf-8')
