"""The nodes that make up a store, grouped into processes. The smoke run, the launcher
(`jwo_launch`) and the ROS 2 launch files all read this one list, so they cannot drift apart.

Two modes: `bag` (a recording plays the sensors: no drivers) and `live` (one driver process
per camera and per shelf's load-cell board, each named after its device). A store with many
depth cameras spreads shopper detection over several processes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from jwo_common.store_config import StoreConfig


# A node's name is on the ROS graph as soon as it is created, before its parameters are
# checked: a process is up only once it has printed this line (after every node started).
NODES_UP_LINE = 'jwo: nodes up:'


@dataclass(frozen=True)
class StackNode:
    package: str
    node_class: str        # 'package.module:Class', as the container takes it
    node_name: str


@dataclass(frozen=True)
class StackProcess:
    name: str
    nodes: tuple[StackNode, ...]
    # Parameters of this process only, e.g. which device a driver reads.
    parameters: dict[str, str] = field(default_factory=dict)
    renamed_to: str = ''   # a driver runs once per device, so its node takes the device's name
    # Linux's SCHED_BATCH: the same share of the cores, but waking up (a message in) does not
    # preempt whoever runs. For a process that works through a reliable queue, so that it
    # does not take the core from a sensor's process in the middle of a frame.
    batch_scheduling: bool = False


FRAMES_PROCESS = StackProcess('frames', (
    StackNode('jwo_cameras', 'jwo_cameras.extrinsics_node:CameraExtrinsicsNode',
              'camera_extrinsics'),
    StackNode('jwo_shelves', 'jwo_shelves.shelf_frames_node:ShelfFramesNode', 'shelf_frames'),
))
DETECTION = StackNode('jwo_cameras', 'jwo_cameras.detection_node:ShopperDetectionNode',
                      'shopper_detection')
# One Python process detects on one core at most (its executor is single-threaded); more
# depth cameras than this are split evenly over several processes.
DEPTH_CAMERAS_PER_DETECTION_PROCESS = 12

PROCESSES_AFTER_DETECTION = (
    # Its own executor: a busy detector must not make it drop the frames of a scan.
    StackProcess('gate', (
        StackNode('jwo_cameras', 'jwo_cameras.gate_node:EntryGateNode', 'entry_gate'),
    )),
    StackProcess('shelves', (
        StackNode('jwo_shelves', 'jwo_shelves.shelf_events_node:ShelfEventsNode', 'shelf_events'),
    )),
    # Woken by each of the cameras' detections (reliable: they wait for it in a queue).
    StackProcess('fusion', (
        StackNode('jwo_fusion', 'jwo_fusion.fusion_node:FusionNode', 'fusion'),
        StackNode('jwo_fusion', 'jwo_fusion.store_markers_node:StoreMarkersNode', 'store_markers'),
    ), batch_scheduling=True),
    # Alone in its process: a crash elsewhere must not take the money path down with it.
    StackProcess('billing', (
        StackNode('jwo_billing', 'jwo_billing.billing_node:BillingNode', 'billing'),
    )),
)

CAMERA_DRIVER = StackNode('jwo_cameras', 'jwo_cameras.camera_node:CameraNode', 'camera')
LOAD_CELL_DRIVER = StackNode('jwo_shelves', 'jwo_shelves.load_cell_node:LoadCellNode',
                             'load_cells')


def driver_processes(config: StoreConfig) -> tuple[StackProcess, ...]:
    """One process per device of a live store: cameras, then shelves' load-cell boards."""
    cameras = tuple(StackProcess(f'camera_{camera.id}', (CAMERA_DRIVER,),
                                 {'camera_id': camera.id}, f'camera_{camera.id}')
                    for camera in config.cameras)
    shelves = tuple(StackProcess(f'load_cells_{shelf.id}', (LOAD_CELL_DRIVER,),
                                 {'shelf_id': shelf.id}, f'load_cells_{shelf.id}')
                    for shelf in config.shelves)
    return cameras + shelves


def detection_processes(config: StoreConfig) -> tuple[StackProcess, ...]:
    """'cameras' (every depth camera), or 'cameras_1', 'cameras_2', ... each with its share."""
    depth_cameras = [c.id for c in config.cameras if c.depth]
    count = math.ceil(len(depth_cameras) / DEPTH_CAMERAS_PER_DETECTION_PROCESS)
    if count <= 1:
        return (StackProcess('cameras', (DETECTION,)),)
    share = math.ceil(len(depth_cameras) / count)
    return tuple(StackProcess(f'cameras_{i + 1}', (DETECTION,),
                              {'cameras': '[' + ','.join(depth_cameras[i * share:
                                                                       (i + 1) * share]) + ']'},
                              f'shopper_detection_{i + 1}')
                 for i in range(count))


def store_processes(config: StoreConfig, mode: str) -> tuple[StackProcess, ...]:
    """The processes of a store in start order: drivers first when live."""
    if mode not in ('live', 'bag'):
        raise ValueError(f"mode must be 'live' or 'bag', got {mode!r}")
    drivers = driver_processes(config) if mode == 'live' else ()
    return (drivers + (FRAMES_PROCESS,) + detection_processes(config)
            + PROCESSES_AFTER_DETECTION)


def node_names(process: StackProcess) -> tuple[str, ...]:
    return (process.renamed_to,) if process.renamed_to else \
        tuple(node.node_name for node in process.nodes)


def container_arguments(process: StackProcess) -> list[str]:
    return [arg for node in process.nodes for arg in ('--node', node.node_class)] + \
        (['--batch-scheduling'] if process.batch_scheduling else [])


def process_ros_arguments(process: StackProcess) -> list[str]:
    """ROS arguments that belong to this process alone (after the store's own)."""
    args = [arg for name, value in process.parameters.items() for arg in ('-p', f'{name}:={value}')]
    if process.renamed_to:
        args += ['-r', f'__node:={process.renamed_to}']
    return args
