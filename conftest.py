"""Test-session set-up shared by every package: DDS stays on this machine, in a domain
no other concurrent test run uses."""

import os

from jwo_common.testing import claim_ros_domain

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
