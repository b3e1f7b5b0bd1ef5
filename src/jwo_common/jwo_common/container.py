"""Runs several jwo nodes in one process, one executor: how a store runs dozens of nodes
while localhost discovery allows only about 32 DDS participants per host.

    python -m jwo_common.container --node jwo_cameras.extrinsics_node:CameraExtrinsicsNode \
        --node jwo_shelves.shelf_frames_node:ShelfFramesNode --ros-args --params-file ...

Every node gets the process's ROS arguments (`--params-file`, `-p`). A node that cannot
start stops the process with exit code 1 and one line naming it and why. With
`--batch-scheduling` the process runs under Linux's SCHED_BATCH (see
`jwo_common.stack.StackProcess`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable

from rclpy.node import Node
from rclpy.utilities import remove_ros_args

from jwo_common.node_main import run_nodes


def node_factory(spec: str) -> Callable[[], Node]:
    """'package.module:Class' -> a callable creating that node."""
    module_name, _, class_name = spec.partition(':')
    if not module_name or not class_name:
        raise ValueError(f"node spec must look like 'package.module:Class', got {spec!r}")
    try:
        node_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f'cannot load node {spec!r}: {error}') from None
    return node_class


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--node', action='append', required=True, metavar='MODULE:CLASS',
                        help='a node class to run (repeat for several)')
    parser.add_argument('--batch-scheduling', action='store_true',
                        help="Linux's SCHED_BATCH: messages arriving do not preempt other "
                        'processes')
    args = parser.parse_args(remove_ros_args(argv)[1:])
    if args.batch_scheduling:
        if hasattr(os, 'SCHED_BATCH'):
            # The threads so far (numpy's pool); DDS's and the executor's inherit it.
            for thread in os.listdir('/proc/self/task'):
                os.sched_setscheduler(int(thread), os.SCHED_BATCH, os.sched_param(0))
        else:
            print('warning: no SCHED_BATCH on this system: normal scheduling', file=sys.stderr)
    try:
        factories = [node_factory(spec) for spec in args.node]
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    return run_nodes(factories, argv)


if __name__ == '__main__':
    sys.exit(main())
