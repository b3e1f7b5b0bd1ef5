"""Test-session set-up shared by every package: DDS stays on this machine, in a domain
no other concurrent test run uses; the demo stores have their keystores."""

import os
from pathlib import Path

from jwo_common.keys_cli import init as init_keystore
from jwo_common.testing import claim_ros_domain

os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())

for store_config in sorted(Path(__file__).parent.glob('config/*/store.yaml')):
    init_keystore(str(store_config), ['staff'])
