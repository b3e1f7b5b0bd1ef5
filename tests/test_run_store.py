"""The main job's input checks (the job itself is the README's main command)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_a_bag_of_another_store_is_refused_by_name():
    # Scored against the London prices and shelves, every Seattle receipt came out wrong.
    done = subprocess.run([sys.executable, str(REPO / 'scripts' / 'run_store.py'),
                           '--bag', str(REPO / 'bags' / 'seattle_easy')],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "recorded in store 'seattle_pike'" in done.stderr
    assert "is store 'london_soho'" in done.stderr and 'Traceback' not in done.stderr
