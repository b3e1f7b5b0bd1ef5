from dataclasses import dataclass

import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter

from jwo_common.parameters import declare_settings, param


@dataclass(frozen=True)
class ExampleSettings:
    store_config: str = param('store.yaml', 'Path of the store config YAML', read_only=True)
    qos: str = param('reliable', 'QoS of the image stream', choices=('reliable', 'sensor_data'))
    rate_hz: float = param(15.0, 'Publish rate', min_value=1.0, max_value=60.0)
    window: int = param(30, 'Samples in the moving window', min_value=2, max_value=600)
    camera_ids: list[str] = param([], 'Cameras to use; empty = all')


@pytest.fixture
def context():
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()


def make_node(context, overrides=()):
    return rclpy.create_node('settings_under_test', context=context,
                             parameter_overrides=[Parameter(n, value=v) for n, v in overrides])


def test_defaults_are_declared_with_descriptors(context):
    node = make_node(context)
    settings = declare_settings(node, ExampleSettings)
    assert settings == ExampleSettings()
    [qos, rate] = node.describe_parameters(['qos', 'rate_hz'])
    assert qos.type == ParameterType.PARAMETER_STRING
    assert 'one of: reliable, sensor_data' in qos.description
    assert (rate.floating_point_range[0].from_value,
            rate.floating_point_range[0].to_value) == (1.0, 60.0)
    assert node.describe_parameter('store_config').read_only
    assert node.describe_parameter('camera_ids').type == ParameterType.PARAMETER_STRING_ARRAY


def test_overrides_are_read_into_settings(context):
    node = make_node(context, [('qos', 'sensor_data'), ('camera_ids', ['cam_01', 'cam_02'])])
    settings = declare_settings(node, ExampleSettings)
    assert settings.qos == 'sensor_data'
    assert settings.camera_ids == ['cam_01', 'cam_02']


def test_bad_choice_at_start_names_the_parameter(context):
    node = make_node(context, [('qos', 'best_effort')])
    with pytest.raises(ValueError, match="qos must be one of reliable, sensor_data, got 'best_effort'"):
        declare_settings(node, ExampleSettings)


def test_run_time_changes_are_validated_and_reported(context):
    node = make_node(context)
    seen = []
    declare_settings(node, ExampleSettings, on_change=seen.append)
    [refused] = node.set_parameters([Parameter('qos', value='udp')])
    assert not refused.successful
    assert 'qos must be one of' in refused.reason
    [accepted] = node.set_parameters([Parameter('window', value=120)])
    assert accepted.successful
    assert seen[-1].window == 120
    [read_only] = node.set_parameters([Parameter('store_config', value='other.yaml')])
    assert not read_only.successful
