"""Several nodes run in one process through jwo_common.container."""

import os
import sys
from pathlib import Path

from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from jwo_common.frames import store_static_transforms
from jwo_common.qos import LATCHED
from jwo_common.store_config import load_store_config
from jwo_common.testing import interrupt_and_wait, node_process, spin_until
from jwo_common.tf import TF_STATIC_LISTENER_QOS

REPO = Path(__file__).resolve().parents[1]
STORE = REPO / 'config' / 'london' / 'store.yaml'
NODE_SPECS = ['jwo_cameras.extrinsics_node:CameraExtrinsicsNode',
              'jwo_shelves.shelf_frames_node:ShelfFramesNode',
              'jwo_fusion.store_markers_node:StoreMarkersNode']


def container(*specs: str, store: Path = STORE, options: tuple[str, ...] = ()):
    args = [arg for spec in specs for arg in ('--node', spec)]
    return node_process('jwo_common.container', *args, *options,
                        ros_args=['-p', f'store_config:={store}'])


def test_nodes_share_one_process(ros):
    prober, executor = ros
    frames = set()
    prober.create_subscription(
        TFMessage, '/tf_static', lambda m: frames.update(t.child_frame_id for t in m.transforms),
        TF_STATIC_LISTENER_QOS)
    markers = []
    prober.create_subscription(MarkerArray, '/store/layout_markers', markers.append, LATCHED)
    expected = {t.child for t in store_static_transforms(load_store_config(STORE))}
    process = container(*NODE_SPECS)
    try:
        spin_until(executor, lambda: expected <= frames, 30, 'static TF of cameras and shelves')
        spin_until(executor, lambda: markers, 30, 'layout markers')
        assert {'camera_extrinsics', 'shelf_frames', 'store_markers'} <= \
            set(prober.get_node_names())
    finally:
        code, _, err = interrupt_and_wait(process)
    assert code == 0, err


def test_a_process_asked_for_batch_scheduling_runs_every_thread_under_it(ros):
    from jwo_common.stack import container_arguments, store_processes

    prober, executor = ros
    markers = []
    prober.create_subscription(MarkerArray, '/store/layout_markers', markers.append, LATCHED)
    process = container(*NODE_SPECS, options=('--batch-scheduling',))
    try:
        spin_until(executor, lambda: markers, 30, 'layout markers')
        threads = [int(task.name) for task in Path(f'/proc/{process.pid}/task').iterdir()]
        policies = {os.sched_getscheduler(thread) for thread in threads}
    finally:
        code, _, err = interrupt_and_wait(process)
    assert code == 0, err
    assert len(threads) > 1     # DDS's threads too, started after the policy was set
    assert policies == {os.SCHED_BATCH}
    # The stack asks for it for fusion, which works through a queue, not for a sensor's node.
    flagged = {p.name for p in store_processes(load_store_config(STORE), 'bag')
               if '--batch-scheduling' in container_arguments(p)}
    assert flagged == {'fusion'}


def test_a_bad_node_spec_is_named():
    process = container('jwo_cameras.no_such_module:Node')
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.startswith("error: cannot load node 'jwo_cameras.no_such_module:Node'")


def test_a_node_that_cannot_start_is_named(tmp_path):
    broken = tmp_path / 'store.yaml'
    broken.write_text(STORE.read_text().replace('product: GB-TEA-80', 'product: GB-TEA-81', 1))
    process = container(*NODE_SPECS, store=broken)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.startswith('error: CameraExtrinsicsNode: ')
    assert "unknown SKU 'GB-TEA-81'" in err


def test_every_stack_node_resolves_and_is_named_as_listed():
    from jwo_common.container import node_factory
    from jwo_common.stack import store_processes

    nodes = [node for process in store_processes(load_store_config(STORE), 'bag')
             for node in process.nodes]
    assert len({n.node_name for n in nodes}) == len(nodes)
    for node in nodes:
        node_class = node_factory(node.node_class)
        assert node_class.__module__.startswith(node.package + '.')
        assert f"super().__init__('{node.node_name}'" in \
            Path(sys.modules[node_class.__module__].__file__).read_text()


def test_many_depth_cameras_are_spread_over_detection_processes():
    from jwo_common.stack import detection_processes, node_names

    config = load_store_config(STORE)
    [one] = detection_processes(config)
    assert (one.name, one.parameters) == ('cameras', {})
    overhead = next(c for c in config.cameras if c.depth)
    gate = [c for c in config.cameras if not c.depth]
    many = config.model_copy(update={'cameras': gate + [
        overhead.model_copy(update={'id': f'cam_{i:02d}'}) for i in range(25)]})
    processes = detection_processes(many)
    assert [p.name for p in processes] == ['cameras_1', 'cameras_2', 'cameras_3']
    assert [node_names(p) for p in processes] == [('shopper_detection_1',),
                                                  ('shopper_detection_2',),
                                                  ('shopper_detection_3',)]
    shares = [p.parameters['cameras'].strip('[]').split(',') for p in processes]
    assert [len(share) for share in shares] == [9, 9, 7]
    assert sum(shares, []) == [f'cam_{i:02d}' for i in range(25)]
