"""Writes a simulation into a rosbag2 (MCAP) bag with `rosbags`, ground truth beside it.

Topics (message definitions embedded, so standard rosbag2 tools and rosbags' AnyReader
decode them):
  /clock                          rosgraph_msgs/msg/Clock, every 100 ms
  /tf_static                      tf2_msgs/msg/TFMessage, once at the start (offered
                                  transient-local, so a player latches it)
  /shelves/<shelf_id>/load_cells  jwo_interfaces/msg/LoadCellReadings, per shelf per 100 ms
  /gates/entry_scans              jwo_interfaces/msg/GateEvent, ENTRY at each arrival (the
                                  entry scanner; exits are for the cameras to see)
Files beside the messages: `ground_truth.json` (see jwo_sim.simulation) and `scenario.yaml`.
Sim time t maps to stamp start_unix_s + t; a batch is logged when its last sample is in.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, \
    QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from jwo_common.frames import MAP_FRAME, shelf_frame, store_static_transforms
from jwo_sim.load_cells import load_cell_batches
from jwo_sim.scenario import scenario_to_yaml
from jwo_sim.simulation import SimulationResult

# The package is installed editable from the repo (scripts/setup.sh), beside the .msg files.
INTERFACES_MSG_DIR = Path(__file__).resolve().parents[2] / 'jwo_interfaces' / 'msg'
CLOCK_PERIOD_S = 0.1
GROUND_TRUTH_FILE = 'ground_truth.json'
SCENARIO_FILE = 'scenario.yaml'
LOAD_CELL_TYPE = 'jwo_interfaces/msg/LoadCellReadings'
GATE_EVENT_TYPE = 'jwo_interfaces/msg/GateEvent'


def load_cells_topic(shelf_id: str) -> str:
    return f'/shelves/{shelf_id}/load_cells'


ENTRY_SCANS_TOPIC = '/gates/entry_scans'


def jwo_typestore(msg_dir: Path = INTERFACES_MSG_DIR) -> Typestore:
    """ROS 2 Jazzy types plus every jwo_interfaces message from its .msg text."""
    store = get_typestore(Stores.ROS2_JAZZY)
    types = {}
    for path in sorted(msg_dir.glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(encoding='utf-8'),
                                        f'jwo_interfaces/msg/{path.stem}'))
    store.register(types)
    return store


def _qos(durability: QosDurability, depth: int) -> Qos:
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth, QosReliability.RELIABLE, durability, zero, zero,
               QosLiveliness.AUTOMATIC, zero, False)


def write_bag(result: SimulationResult, path: Path | str) -> None:
    """Writes the bag directory `path` (must not exist) plus its ground truth files."""
    path = Path(path)
    store = jwo_typestore()
    types = store.types
    start_ns = result.scenario.start_unix_s * 10**9

    def stamp(t_s: float):
        ns = start_ns + round(t_s * 1e9)
        return types['builtin_interfaces/msg/Time'](sec=ns // 10**9, nanosec=ns % 10**9)

    def header(t_s: float, frame_id: str):
        return types['std_msgs/msg/Header'](stamp=stamp(t_s), frame_id=frame_id)

    def log_ns(t_s: float) -> int:
        return start_ns + round(t_s * 1e9)

    # Every message first, then written in log-time order (ties by topic) so the file
    # reads like a recording.
    messages = []   # (log_ns, topic, msgtype, message)
    transforms = [types['geometry_msgs/msg/TransformStamped'](
        header=header(0.0, t.parent), child_frame_id=t.child,
        transform=types['geometry_msgs/msg/Transform'](
            translation=types['geometry_msgs/msg/Vector3'](*t.translation),
            rotation=types['geometry_msgs/msg/Quaternion'](*t.rotation_xyzw)))
        for t in store_static_transforms(result.config)]
    messages.append((log_ns(0.0), '/tf_static', 'tf2_msgs/msg/TFMessage',
                     types['tf2_msgs/msg/TFMessage'](transforms=transforms)))
    n_clock = int(result.scenario.duration_s / CLOCK_PERIOD_S) + 1
    for k in range(n_clock):
        messages.append((log_ns(k * CLOCK_PERIOD_S), '/clock', 'rosgraph_msgs/msg/Clock',
                         types['rosgraph_msgs/msg/Clock'](clock=stamp(k * CLOCK_PERIOD_S))))
    for shelf_id, signal in result.signals.items():
        for batch in load_cell_batches(signal):
            last_s = batch.stamp_s + (len(batch.grams) - 1) / batch.sample_rate_hz
            messages.append((log_ns(last_s), load_cells_topic(shelf_id), LOAD_CELL_TYPE,
                             types[LOAD_CELL_TYPE](
                                 header=header(batch.stamp_s, shelf_frame(shelf_id)),
                                 shelf_id=shelf_id, sample_rate_hz=batch.sample_rate_hz,
                                 slot_ids=list(batch.slot_ids),
                                 sample_count=len(batch.grams), grams=batch.grams.ravel())))
    gate_event = types[GATE_EVENT_TYPE]
    entry_gate = result.config.gates_of_kind('entry')[0].id
    for index, shopper in enumerate(result.scenario.shoppers):
        event_id = f'entry_{result.scenario.seed}_{index:04d}'
        messages.append((log_ns(shopper.arrival_s), ENTRY_SCANS_TOPIC, GATE_EVENT_TYPE,
                         gate_event(header=header(shopper.arrival_s, MAP_FRAME),
                                    event_id=event_id, gate_id=entry_gate,
                                    kind=gate_event.ENTRY, session_id=event_id,
                                    account_token=shopper.account_token,
                                    party_size=shopper.party_size, track_id='',
                                    signature=types['jwo_interfaces/msg/Signature'](
                                        key_id='', nonce='', signed_at=stamp(0.0),
                                        ed25519=np.zeros(0, dtype=np.uint8)))))
    messages.sort(key=lambda m: (m[0], m[1]))

    latched = {'/tf_static'}
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        connections = {}
        for topic, msgtype in sorted({(m[1], m[2]) for m in messages}):
            durability = (QosDurability.TRANSIENT_LOCAL if topic in latched
                          else QosDurability.VOLATILE)
            connections[topic] = writer.add_connection(
                topic, msgtype, typestore=store,
                offered_qos_profiles=[_qos(durability, 1 if topic in latched else 100)])
        for log_time, topic, msgtype, message in messages:
            writer.write(connections[topic], log_time, store.serialize_cdr(message, msgtype))
    (path / GROUND_TRUTH_FILE).write_text(
        json.dumps(result.ground_truth(), sort_keys=True, indent=1) + '\n', encoding='utf-8')
    (path / SCENARIO_FILE).write_text(scenario_to_yaml(result.scenario), encoding='utf-8')

