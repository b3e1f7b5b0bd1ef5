"""Each package's node starts as a real process from a demo store config, declares its
parameters with descriptors, and stops cleanly on SIGINT."""

from pathlib import Path

import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters, ListParameters

from jwo_common.testing import call_idempotent, interrupt_and_wait, node_process

REPO = Path(__file__).resolve().parents[1]
STORES = {'london': REPO / 'config' / 'london' / 'store.yaml',
          'seattle': REPO / 'config' / 'seattle' / 'store.yaml'}

# (package, module, node name)
NODES = [
    ('jwo_cameras', 'jwo_cameras.extrinsics_node', 'camera_extrinsics'),
    ('jwo_shelves', 'jwo_shelves.shelf_frames_node', 'shelf_frames'),
    ('jwo_fusion', 'jwo_fusion.store_markers_node', 'store_markers'),
    ('jwo_billing', 'jwo_billing.billing_node', 'billing'),
]


# London by a single parameter, Seattle by the store's params file, as integrators do.
ROS_ARGS = {'london': ['-p', f'store_config:={STORES["london"]}'],
            'seattle': ['--params-file', str(REPO / 'config' / 'seattle' / 'params.yaml')]}


@pytest.mark.parametrize('store', STORES)
@pytest.mark.parametrize('package, module, node_name', NODES, ids=[n[0] for n in NODES])
def test_node_declares_parameters_and_stops_on_sigint(ros, package, module, node_name, store):
    prober, executor = ros
    process = node_process(module, ros_args=ROS_ARGS[store], cwd=REPO)
    try:
        names = call_idempotent(prober, executor, ListParameters,
                                f'/{node_name}/list_parameters',
                                ListParameters.Request()).result.names
        own = [n for n in names if n != 'use_sim_time']
        descriptors = call_idempotent(prober, executor, DescribeParameters,
                                      f'/{node_name}/describe_parameters',
                                      DescribeParameters.Request(names=own)).descriptors
    finally:
        code, _, err = interrupt_and_wait(process)
    assert code == 0, err
    assert 'Traceback' not in err
    assert 'store_config' in own
    for descriptor in descriptors:
        assert descriptor.description, f'{descriptor.name} has no description'
        assert descriptor.type != ParameterType.PARAMETER_NOT_SET
    store_config = next(d for d in descriptors if d.name == 'store_config')
    assert store_config.read_only


@pytest.mark.parametrize('package, module, node_name', NODES, ids=[n[0] for n in NODES])
def test_node_refuses_a_broken_store_config(tmp_path, package, module, node_name):
    broken = tmp_path / 'store.yaml'
    broken.write_text(STORES['london'].read_text().replace('currency: GBP', 'currency: 12'))
    process = node_process(module, ros_args=['-p', f'store_config:={broken}'])
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert err.strip().startswith('error: ')
    assert err.strip().endswith(f': {broken}: store.currency: Input should be a valid string '
                                f'(got 12)')
