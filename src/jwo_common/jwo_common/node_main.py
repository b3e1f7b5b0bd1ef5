"""The one way every jwo node process starts and stops."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from jwo_common.memory import TRIM_PERIOD_S, bound_heap_growth, release_free_memory
from jwo_common.stack import NODES_UP_LINE
from jwo_common.store_config import StoreConfigError


def run_nodes(factories: list[Callable[[], Node]], args: list[str] | None = None) -> int:
    """Creates the nodes in one process (one executor) and spins until Ctrl-C or shutdown,
    with large blocks kept out of the heap and freed heap memory handed back to the system
    every `TRIM_PERIOD_S`.

    Returns the process exit code: 0 on a clean stop, 1 when a node could not start
    (its reason is printed on one line, e.g. a broken store config).
    """
    bound_heap_growth()
    rclpy.init(args=args)
    nodes: list[Node] = []
    try:
        for factory in factories:
            try:
                nodes.append(factory())
            except (StoreConfigError, ValueError) as error:
                print(f'error: {getattr(factory, "__name__", factory)}: {error}', file=sys.stderr)
                return 1
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        print(f'{NODES_UP_LINE} {", ".join(node.get_name() for node in nodes)}', flush=True)
        if nodes:
            # Steady time: a sim clock can stand still or jump; the heap's creep does not.
            nodes[0].create_timer(TRIM_PERIOD_S, release_free_memory,
                                  clock=Clock(clock_type=ClockType.STEADY_TIME))
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass    # Ctrl-C, also while the nodes are still starting, is a clean stop
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def run_node(factory: Callable[[], Node], args: list[str] | None = None) -> None:
    """`main()` of a single-node process."""
    sys.exit(run_nodes([factory], args))
