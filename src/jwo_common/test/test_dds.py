"""The stack's Fast DDS profile: Fast DDS takes it without complaint, and a profile the
environment names already is left alone."""

import os
import subprocess
import sys

from jwo_common import launcher
from jwo_common.dds import PROFILE, PROFILE_VARIABLE

# A reliable writer and reader in one process: the profile applies to the writer.
ROUNDTRIP = '''
import time
import rclpy
from std_msgs.msg import String
rclpy.init()
node = rclpy.create_node('profile_probe')
received = []
node.create_subscription(String, '/profile_probe', received.append, 10)
publisher = node.create_publisher(String, '/profile_probe', 10)
deadline = time.monotonic() + 20
while not received and time.monotonic() < deadline:
    publisher.publish(String(data='x'))
    rclpy.spin_once(node, timeout_sec=0.1)
print('delivered' if received else 'not delivered')
'''


def run_roundtrip(profile) -> str:
    """What the round trip printed, Fast DDS's own messages (on stdout) among it."""
    env = dict(os.environ, **{PROFILE_VARIABLE: str(profile)})
    done = subprocess.run([sys.executable, '-c', ROUNDTRIP], env=env, capture_output=True,
                          text=True, timeout=60)
    return done.stdout + done.stderr


def test_fast_dds_parses_the_profile_and_data_flows(tmp_path):
    output = run_roundtrip(PROFILE)
    assert 'XMLPARSER' not in output and output.split()[-1] == 'delivered', output
    # The same check fails on a broken profile: Fast DDS reports it.
    broken = tmp_path / 'broken.xml'
    broken.write_text(PROFILE.read_text().replace('<nanosec>100000000', '<nanosec>soon'))
    assert 'XMLPARSER' in run_roundtrip(broken)


def test_the_stack_runs_with_the_profile_unless_one_is_named(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(launcher.subprocess, 'Popen',
                        lambda args, **kwargs: started.append(kwargs['env']))
    monkeypatch.delenv(PROFILE_VARIABLE, raising=False)
    launcher.python_module_process('jwo_common.container', [], tmp_path / 'a.log')
    monkeypatch.setenv(PROFILE_VARIABLE, '/etc/our_store/fastdds.xml')
    launcher.python_module_process('jwo_common.container', [], tmp_path / 'b.log')
    assert [env[PROFILE_VARIABLE] for env in started] == [str(PROFILE),
                                                          '/etc/our_store/fastdds.xml']
