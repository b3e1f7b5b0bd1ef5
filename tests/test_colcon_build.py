"""The packages build with colcon, as on a ROS 2 host, and the built nodes run.

Here the underlay is the venv (laid out like a ROS prefix) instead of /opt/ros/jazzy; the
stand-in tf2_msgs is skipped by colcon (COLCON_IGNORE), as it must be on a ROS host.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PACKAGES = {'jwo_interfaces', 'jwo_common', 'jwo_sim', 'jwo_cameras', 'jwo_shelves',
            'jwo_fusion', 'jwo_billing'}


def test_colcon_builds_every_package_and_the_nodes_run(tmp_path):
    shutil.copytree(REPO / 'src', tmp_path / 'src',
                    ignore=shutil.ignore_patterns('__pycache__', '*.egg-info'))
    shutil.copytree(REPO / 'third_party', tmp_path / 'third_party')
    venv = VENV_BIN.parent
    env = {**os.environ, 'PATH': f'{VENV_BIN}:{os.environ["PATH"]}',
           'AMENT_PREFIX_PATH': str(venv), 'CMAKE_PREFIX_PATH': str(venv)}
    env.pop('_ROS_WHEELS_BOOTSTRAP_COMPLETE', None)
    build = subprocess.run(
        [str(VENV_BIN / 'colcon'), 'build', '--merge-install', '--event-handlers',
         'console_direct-', '--cmake-args', '-DBUILD_TESTING=OFF',
         f'-DPython3_EXECUTABLE={VENV_BIN / "python3"}'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    built = {p.name for p in (tmp_path / 'install' / 'share').iterdir()
             if (p / 'package.xml').is_file()}
    assert PACKAGES <= built
    assert 'tf2_msgs' not in built

    # The console script colcon installed runs the node from the install space.
    install_site = next((tmp_path / 'install' / 'lib').glob('python3*/site-packages'))
    run = subprocess.run(
        [sys.executable, str(tmp_path / 'install' / 'lib' / 'jwo_common' / 'check_store_config'),
         str(REPO / 'config' / 'london' / 'store.yaml')],
        env={**env, 'PYTHONPATH': str(install_site)}, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert 'ok: store london_soho' in run.stdout
    origin = subprocess.run([sys.executable, '-c', 'import jwo_common; print(jwo_common.__file__)'],
                            env={**env, 'PYTHONPATH': str(install_site)}, capture_output=True,
                            text=True, timeout=60)
    assert origin.stdout.startswith(str(install_site)), 'ran the source tree, not the build'
