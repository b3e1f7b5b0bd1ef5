"""Fixtures of the cross-package tests."""

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor


@pytest.fixture
def ros():
    """(node, executor) of a probe in its own rclpy context, for tests to spin on."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('test_probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()
    context.try_shutdown()
