"""Stream health: rate, missing readings, dead and stuck channels."""

import numpy as np

from jwo_shelves.health import HealthSettings, Level, StreamHealth

RATE_HZ = 60.0


def feed(health: StreamHealth, values: np.ndarray, start_ns: int = 0) -> int:
    """Adds `values` in 6-sample batches; returns the stamp after the last sample."""
    period_ns = 1e9 / RATE_HZ
    for first in range(0, len(values), 6):
        rows = values[first:first + 6]
        stamps = start_ns + np.round((first + np.arange(len(rows))) * period_ns).astype(np.int64)
        health.add(stamps, rows)
    return start_ns + round(len(values) * period_ns)


def noisy(seconds: float, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 1000 + rng.normal(0, 0.8, (round(seconds * RATE_HZ), channels))


def test_healthy_stream_reports_ok_and_its_rate():
    health = StreamHealth(['a', 'b'], RATE_HZ)
    end_ns = feed(health, noisy(2, 2))
    report = health.report(end_ns)
    assert report.level == Level.OK
    assert abs(report.rate_hz - RATE_HZ) < 1
    assert [c.level for c in report.channels] == [Level.OK, Level.OK]


def test_dead_stuck_and_lossy_channels_are_named():
    values = noisy(8, 4)
    values[:, 0] = np.nan                        # dead
    values[:, 1] = 512.5                         # stuck
    values[::5, 2] = np.nan                      # 20 % missing
    health = StreamHealth(['dead', 'stuck', 'lossy', 'fine'], RATE_HZ)
    end_ns = feed(health, values)
    report = health.report(end_ns)
    by_name = {c.name: c for c in report.channels}
    assert by_name['dead'].level == Level.ERROR and by_name['dead'].message.startswith('dead')
    assert by_name['stuck'].level == Level.ERROR and by_name['stuck'].message.startswith('stuck')
    assert by_name['lossy'].level == Level.WARN and by_name['lossy'].missing_fraction > 0.15
    assert by_name['fine'].level == Level.OK
    assert report.level == Level.ERROR
    assert report.dead == ('dead',) and report.stuck == ('stuck',)
    assert 'dead' in report.message and 'stuck' in report.message


def test_a_stuck_channel_that_moves_again_recovers():
    values = noisy(8, 1)
    values[:360, 0] = 700.0
    health = StreamHealth(['c'], RATE_HZ)
    end_ns = feed(health, values[:360])
    assert health.report(end_ns).channels[0].message.startswith('stuck')
    end_ns = feed(health, values[360:], start_ns=end_ns)
    assert health.report(end_ns).channels[0].level == Level.OK


def test_missing_readings_do_not_count_as_a_change_of_value():
    values = np.full((round(7 * RATE_HZ), 1), 250.0)
    values[::2, 0] = np.nan
    health = StreamHealth(['c'], RATE_HZ, HealthSettings(max_missing_fraction=0.9))
    end_ns = feed(health, values)
    assert health.report(end_ns).channels[0].message.startswith('stuck')


def test_a_silent_stream_is_stale():
    health = StreamHealth(['a'], RATE_HZ)
    end_ns = feed(health, noisy(1, 1))
    health.report(end_ns)
    report = health.report(end_ns + 2_000_000_000)
    assert report.level == Level.STALE
    assert report.channels[0].level == Level.STALE


def test_channels_are_judged_in_sensor_time_not_replay_time():
    values = noisy(3, 2)
    values[60:, 1] = np.nan                      # dies after one second of sensor time
    health = StreamHealth(['a', 'b'], RATE_HZ, started_ns=5 * 10**18)
    feed(health, values, start_ns=10**12)        # a recording from long ago
    report = health.report(5 * 10**18 + 3 * 10**9)
    assert [c.level for c in report.channels] == [Level.OK, Level.ERROR]
    assert report.dead == ('b',)


def test_a_slow_stream_is_a_warning():
    health = StreamHealth(['a'], RATE_HZ)
    feed(health, noisy(1, 1))
    report = health.report(1_600_000_000)        # 60 samples in 1.6 s
    assert report.level == Level.WARN
    assert 'expected 60.0 Hz' in report.message
