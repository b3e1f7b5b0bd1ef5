"""ROS 2 launch file for a store on a host with launch_ros (not installable from PyPI, so
not run here: `jwo_launch` is the launcher here). Starts one container process per group of
`jwo_common.stack.store_processes`, the same list `jwo_launch` uses, so they cannot drift.

    ros2 launch launch/jwo_store.launch.py store_config:=$PWD/config/london/store.yaml \
        [params_file:=$PWD/config/london/params.yaml] [mode:=bag use_sim_time:=true]
"""

import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from jwo_common.dds import PROFILE, PROFILE_VARIABLE
from jwo_common.stack import container_arguments, process_ros_arguments, store_processes
from jwo_common.store_config import load_store_config


def _store_nodes(context):
    store_config = LaunchConfiguration('store_config').perform(context)
    params_file = LaunchConfiguration('params_file').perform(context)
    use_sim_time = LaunchConfiguration('use_sim_time').perform(context) == 'true'
    config = load_store_config(store_config)
    parameters = [{'store_config': store_config, 'use_sim_time': use_sim_time}]
    # jwo's Fast DDS profile, unless the environment names one (as jwo_launch does).
    dds_profile = {} if PROFILE_VARIABLE in os.environ else {PROFILE_VARIABLE: str(PROFILE)}
    if params_file:
        parameters.insert(0, params_file)
    return [Node(package='jwo_common', executable='container',
                 arguments=[*container_arguments(process), '--ros-args',
                            *process_ros_arguments(process)],
                 parameters=parameters, additional_env=dds_profile, output='screen')
            for process in store_processes(config, LaunchConfiguration('mode').perform(context))]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('store_config', description='the store config YAML'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='optional ROS parameters YAML for every node'),
        DeclareLaunchArgument('mode', default_value='live',
                              description="'live' (drivers per device) or 'bag'"),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        OpaqueFunction(function=_store_nodes),
    ])
