"""Brings up the store's nodes (jwo_common.stack: one process per group) on a store config, checks that what they publish
arrives over loopback DDS, stops them with SIGINT and reports. Exit code 0 when all is well.

    .venv/bin/python scripts/smoke_store.py [--store config/london/store.yaml]
"""

import argparse
import os
import sys
import time
from pathlib import Path

from jwo_common.stack import STORE_PROCESSES, container_arguments
from jwo_common.testing import claim_ros_domain, interrupt_and_wait, node_process

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', type=Path, default=REPO / 'config' / 'london' / 'store.yaml')
    parser.add_argument('--timeout', type=float, default=60.0, help='seconds to wait for data')
    args = parser.parse_args()

    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
    # Imported after the DDS settings are in place.
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from tf2_msgs.msg import TFMessage
    from visualization_msgs.msg import MarkerArray

    from jwo_common.frames import store_static_transforms
    from jwo_common.qos import LATCHED
    from jwo_common.store_config import StoreConfigError, load_store_config
    from jwo_common.tf import TF_STATIC_LISTENER_QOS

    try:
        config = load_store_config(args.store)
    except StoreConfigError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print(f'store {config.store.id} ({config.store.name}), ROS_DOMAIN_ID={os.environ["ROS_DOMAIN_ID"]}')

    rclpy.init()
    listener = rclpy.create_node('smoke_listener')
    frames: set[str] = set()
    markers: list[MarkerArray] = []
    listener.create_subscription(
        TFMessage, '/tf_static', lambda m: frames.update(t.child_frame_id for t in m.transforms),
        TF_STATIC_LISTENER_QOS)
    listener.create_subscription(MarkerArray, '/store/layout_markers', markers.append, LATCHED)
    executor = SingleThreadedExecutor()
    executor.add_node(listener)

    started = time.monotonic()
    processes = {process.name: node_process('jwo_common.container', *container_arguments(process),
                                            ros_args=['-p', f'store_config:={args.store}'])
                 for process in STORE_PROCESSES}
    expected_nodes = {node.node_name for process in STORE_PROCESSES for node in process.nodes}
    expected_frames = {t.child for t in store_static_transforms(config)}
    deadline = started + args.timeout
    while time.monotonic() < deadline and not (
            expected_frames <= frames and markers
            and expected_nodes <= set(listener.get_node_names())):
        executor.spin_once(timeout_sec=0.1)
        if any(p.poll() is not None for p in processes.values()):
            break
    elapsed = time.monotonic() - started

    running_nodes = set(listener.get_node_names())
    ok = True
    for name, process in processes.items():
        code, _, err = interrupt_and_wait(process) if process.poll() is None else \
            (process.returncode, *process.communicate())
        status = 'ok' if code == 0 else f'FAILED (exit {code}): {err.strip().splitlines()[-1:]}'
        ok &= code == 0
        nodes = [n.node_name for p in STORE_PROCESSES if p.name == name for n in p.nodes]
        up = ', '.join(f'{n} {"up" if n in running_nodes else "MISSING"}' for n in nodes)
        ok &= all(n in running_nodes for n in nodes)
        print(f'  process {name:<8} {status}: {up}')
    missing = sorted(expected_frames - frames)
    print(f'  static TF frames received: {len(frames & expected_frames)}/{len(expected_frames)}'
          + (f' (missing {missing})' if missing else ''))
    print(f'  layout markers received: {len(markers[0].markers) if markers else 0}')
    print(f'  all up in {elapsed:.1f} s')
    executor.shutdown()
    listener.destroy_node()
    rclpy.try_shutdown()
    ok &= not missing and bool(markers)
    print('smoke run: ' + ('ok' if ok else 'FAILED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
