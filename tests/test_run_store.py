"""The main job's input checks and report (the job itself is the README's main command)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))


def test_a_bag_of_another_store_is_refused_by_name():
    # Scored against the London prices and shelves, every Seattle receipt came out wrong.
    done = subprocess.run([sys.executable, str(REPO / 'scripts' / 'run_store.py'),
                           '--bag', str(REPO / 'bags' / 'seattle_easy')],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "recorded in store 'seattle_pike'" in done.stderr
    assert "is store 'london_soho'" in done.stderr and 'Traceback' not in done.stderr


def test_frames_missing_on_arrival_are_summed_over_depth_cameras_and_shown_per_scanner(capsys):
    from run_store import print_frame_delivery

    from jwo_common.store_config import load_store_config
    config = load_store_config(REPO / 'config' / 'london' / 'store.yaml')
    depth = [c.id for c in config.cameras if c.depth]
    frames = {depth[0]: (90, 10), depth[1]: (196, 4), 'gate_cam': (999, 1)}
    print_frame_delivery(frames, config)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[2:]] == [
        ['depth', 'cameras', '14', 'of', '300', '(4.7%)'],
        ['gate_cam', '1', 'of', '1000', '(0.1%)']]
