"""Privacy retention: production recordings keep camera images only if the store allows it
and only until they expire; purging strips them and keeps everything else."""

import shutil
from pathlib import Path

import rclpy
import yaml
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import Image

from jwo_common.testing import interrupt_and_wait, node_process, store_config_copy, wait_until
from jwo_sim.cli import bag_purge_main
from jwo_sim.retention import (EXPIRY_KEY, IMAGE_TYPES, NS_PER_DAY, PURGED_KEY, custom_data,
                               purge_expired_images, recordings_in)

ROOT = Path(__file__).resolve().parents[3]
LONDON = ROOT / 'config' / 'london' / 'store.yaml'
SAMPLE = ROOT / 'bags' / 'london_easy'
PLAYED = ['/cameras/gate_cam/color/image_raw', '/cameras/gate_cam/color/camera_info',
          '/shelves/shelf_a/load_cells']


def counts(bag: Path) -> dict[str, int]:
    with Reader(bag) as reader:
        return {c.topic: c.msgcount for c in reader.connections}


def image_topics(bag: Path) -> set[str]:
    with Reader(bag) as reader:
        return {c.topic for c in reader.connections if c.msgtype in IMAGE_TYPES}


def started_ns(bag: Path) -> int:
    with Reader(bag) as reader:
        return reader.start_time


def recording(tmp_path: Path) -> Path:
    folder = tmp_path / 'recordings'
    folder.mkdir()
    shutil.copytree(SAMPLE, folder / 'monday')
    return folder


def test_expired_images_are_stripped_and_everything_else_kept(tmp_path):
    folder = recording(tmp_path)
    bag = folder / 'monday'
    before = counts(bag)
    expiry_ns = started_ns(bag) + 7 * NS_PER_DAY
    assert purge_expired_images(folder, 7, expiry_ns - 1) == []
    assert counts(bag) == before
    [purged] = purge_expired_images(folder, 7, expiry_ns)
    after = counts(bag)
    assert image_topics(bag) == set()
    assert set(purged.image_topics) == {t for t in before if t not in after}
    assert purged.image_messages == sum(before[t] for t in purged.image_topics)
    assert after == {t: n for t, n in before.items() if t not in purged.image_topics}
    assert int(custom_data(bag)[PURGED_KEY]) == expiry_ns
    assert purge_expired_images(folder, 7, expiry_ns + NS_PER_DAY) == []


def test_a_recording_keeps_its_own_expiry(tmp_path):
    folder = recording(tmp_path)
    metadata = folder / 'monday' / 'metadata.yaml'
    document = yaml.safe_load(metadata.read_text())
    expiry_ns = started_ns(folder / 'monday') + NS_PER_DAY
    document['rosbag2_bagfile_information']['custom_data'] = {EXPIRY_KEY: str(expiry_ns)}
    metadata.write_text(yaml.safe_dump(document))
    assert [p.expired_at_ns for p in purge_expired_images(folder, 30, expiry_ns)] == [expiry_ns]


def test_an_interrupted_purge_is_finished_or_undone(tmp_path):
    folder = recording(tmp_path)
    (folder / 'monday').rename(folder / 'monday.expired')     # crashed between the renames
    shutil.copytree(SAMPLE, folder / 'tuesday.purging')        # crashed while writing
    shutil.copytree(SAMPLE, folder / 'wednesday')
    shutil.copytree(SAMPLE, folder / 'wednesday.expired')      # crashed before removing
    assert [p.name for p in recordings_in(folder)] == ['monday', 'wednesday']
    assert sorted(p.name for p in folder.iterdir()) == ['monday', 'wednesday']
    assert counts(folder / 'monday') == counts(SAMPLE)


def test_purge_command_dry_run_then_purge(tmp_path, capsys):
    config = store_config_copy(LONDON, tmp_path)
    folder = recording(tmp_path)
    late = '2030-01-01T00:00:00'
    assert bag_purge_main([str(config), '--now', late, '--dry-run']) == 0
    assert 'would purge' in capsys.readouterr().out
    assert image_topics(folder / 'monday')
    assert bag_purge_main([str(config), '--now', late]) == 0
    out = capsys.readouterr().out
    assert 'purged' in out and '1 recordings with expired images' in out
    assert not image_topics(folder / 'monday')
    assert bag_purge_main([str(config), '--now', 'yesterday']) == 1
    assert 'jwo_bag_purge:' in capsys.readouterr().err


def record_in_production(tmp_path: Path, record_images: bool) -> Path:
    config = store_config_copy(LONDON, tmp_path, {
        'record_images: false': f'record_images: {str(record_images).lower()}'})
    recorder = node_process('jwo_sim.bag_record', '--store', str(config), '-o', 'shift',
                            *PLAYED)
    # The recorder subscribes to what it sees published: start the player, paused until
    # the recorder is on every topic it will record (it never subscribes to dropped images).
    player = node_process('jwo_sim.bag_play', str(SAMPLE), '--rate', '10', '--topics', *PLAYED,
                          '--wait-for-subscribers', '60')
    recorded = PLAYED if record_images else PLAYED[1:]
    rclpy.init()
    try:
        probe = rclpy.create_node('retention_probe')
        wait_until(lambda: all(probe.count_subscribers(t) for t in recorded), 30,
                   'the recorder on every recorded topic')
        if not record_images:
            # The player waits for a subscriber on every topic: give the image topic one
            # that the recorder is not, so playing starts now.
            probe.create_subscription(Image, PLAYED[0], lambda _: None, 10)
        _, err = player.communicate(timeout=90)
    finally:
        rclpy.try_shutdown()
    assert player.returncode == 0, err
    code, _, err = interrupt_and_wait(recorder)
    assert code == 0, err
    return tmp_path / 'recordings' / 'shift'


def test_production_recording_drops_images_unless_the_store_keeps_them(tmp_path):
    without = record_in_production(tmp_path / 'a', record_images=False)
    assert set(counts(without)) == set(PLAYED) - {PLAYED[0]}
    assert EXPIRY_KEY not in custom_data(without)
    with_images = record_in_production(tmp_path / 'b', record_images=True)
    assert counts(with_images)[PLAYED[0]] == counts(SAMPLE)[PLAYED[0]]
    expiry_days = (int(custom_data(with_images)[EXPIRY_KEY]) - started_ns(with_images)) \
        / NS_PER_DAY
    assert 6.99 < expiry_days <= 7.0
