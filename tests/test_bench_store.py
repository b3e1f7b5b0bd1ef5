"""The whole-stack benchmark's reading of the machine's CPU time (the runs themselves are
measurements, not tests)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'scripts'))

from bench_store import machine_cores, machine_times  # noqa: E402

TICK_S = 1 / os.sysconf('SC_CLK_TCK')
STAT = """cpu  {user} 5 {system} {idle} 20 0 {softirq} {steal} 0 0
cpu0 1 0 1 1 0 0 0 0 0 0
intr 12345
"""


def test_busy_idle_and_stolen_time_come_from_the_all_cores_line():
    times = machine_times(STAT.format(user=1000, system=300, idle=5000, softirq=10, steal=40))
    assert times == pytest.approx({'busy': 1315 * TICK_S, 'idle': 5020 * TICK_S,
                                   'stolen': 40 * TICK_S})


def test_cores_are_the_time_spent_over_the_seconds_between_two_readings():
    before = machine_times(STAT.format(user=1000, system=300, idle=5000, softirq=10, steal=40))
    seconds = 2.0
    after = machine_times(STAT.format(user=1000 + int(2.4 / TICK_S), system=300,
                                      idle=5000 + int(1.2 / TICK_S), softirq=10,
                                      steal=40 + int(0.4 / TICK_S)))
    assert machine_cores(before, after, seconds) == pytest.approx(
        {'busy': 1.2, 'idle': 0.6, 'stolen': 0.2}, abs=0.02)


def test_without_a_stat_file_there_is_nothing_to_print():
    assert machine_times('intr 1\n') is None
    assert machine_cores(None, None, 1.0) is None
