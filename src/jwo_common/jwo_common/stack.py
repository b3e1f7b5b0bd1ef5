"""The nodes that make up a store, grouped into processes. The smoke run, the launcher and
the ROS 2 launch files all read this one list, so they cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StackNode:
    package: str
    node_class: str        # 'package.module:Class', as the container takes it
    node_name: str


@dataclass(frozen=True)
class StackProcess:
    name: str
    nodes: tuple[StackNode, ...]


STORE_PROCESSES = (
    StackProcess('frames', (
        StackNode('jwo_cameras', 'jwo_cameras.extrinsics_node:CameraExtrinsicsNode',
                  'camera_extrinsics'),
        StackNode('jwo_shelves', 'jwo_shelves.shelf_frames_node:ShelfFramesNode', 'shelf_frames'),
    )),
    StackProcess('fusion', (
        StackNode('jwo_fusion', 'jwo_fusion.store_markers_node:StoreMarkersNode', 'store_markers'),
    )),
    # Alone in its process: a crash elsewhere must not take the money path down with it.
    StackProcess('billing', (
        StackNode('jwo_billing', 'jwo_billing.billing_node:BillingNode', 'billing'),
    )),
)


def container_arguments(process: StackProcess) -> list[str]:
    return [arg for node in process.nodes for arg in ('--node', node.node_class)]
