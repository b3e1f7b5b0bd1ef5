"""ROS 2 launch file for a store on a host with launch_ros (not installable from PyPI, so
not run here). Starts one container process per group of jwo_common.stack.STORE_PROCESSES,
the same list the smoke run and the launcher use.

    ros2 launch launch/jwo_store.launch.py params_file:=$PWD/config/london/params.yaml
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from jwo_common.stack import STORE_PROCESSES, container_arguments


def generate_launch_description():
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              description='the store params file, e.g. config/london/params.yaml'),
        *(Node(package='jwo_common', executable='container',
               arguments=container_arguments(process), parameters=[params_file],
               output='screen')
          for process in STORE_PROCESSES),
    ])
