"""Bags: readable with embedded definitions, deterministic when decoded, clear errors."""

import json
import os
import subprocess
import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.interfaces import QosDurability
from rosbags.typesys import Stores, get_typestore

from jwo_common.frames import store_static_transforms
from jwo_common.store_config import load_store_config
from jwo_sim.bag_writer import write_bag
from jwo_sim.cli import bag_info_main, generate_main
from jwo_sim.scenario import generate_scenario
from jwo_sim.simulation import simulate

ROOT = Path(__file__).resolve().parents[3]
LONDON = ROOT / 'config' / 'london' / 'store.yaml'


def decoded(bag: Path) -> list[tuple]:
    """Every message as (topic, log time, decoded fields), read with only the standard
    Jazzy typestore: our types must come from the definitions inside the bag."""
    with AnyReader([bag], default_typestore=get_typestore(Stores.ROS2_JAZZY)) as reader:
        return [(connection.topic, timestamp, _plain(reader.deserialize(raw, connection.msgtype)))
                for connection, timestamp, raw in reader.messages()]


def _plain(message):
    if hasattr(message, '__dataclass_fields__'):
        return {name: _plain(getattr(message, name)) for name in message.__dataclass_fields__}
    if isinstance(message, np.ndarray):
        return ('array', str(message.dtype), message.tobytes())
    if isinstance(message, list):
        return [_plain(item) for item in message]
    return message


@pytest.fixture(scope='module')
def bags(tmp_path_factory):
    """The same seed generated twice into different directories, and another seed."""
    root = tmp_path_factory.mktemp('bags')
    for name, seed in (('first', 5), ('again', 5), ('other', 6)):
        assert generate_main(['--store', str(LONDON), '--seed', str(seed), '--shoppers', '3',
                              '--duration', '18', '--difficulty', 'medium',
                              '--out', str(root / name)]) == 0
    return root


def test_same_seed_same_ground_truth_and_decoded_messages(bags):
    truth = (bags / 'first' / 'ground_truth.json').read_text()
    assert truth == (bags / 'again' / 'ground_truth.json').read_text()
    assert truth != (bags / 'other' / 'ground_truth.json').read_text()
    assert decoded(bags / 'first') == decoded(bags / 'again')
    assert decoded(bags / 'first') != decoded(bags / 'other')


def test_bag_holds_the_scenario(bags):
    config = load_store_config(LONDON)
    truth = json.loads((bags / 'first' / 'ground_truth.json').read_text())
    messages = decoded(bags / 'first')
    by_topic = {}
    for topic, timestamp, message in messages:
        by_topic.setdefault(topic, []).append((timestamp, message))
    cameras = [f'/cameras/{c.id}/depth/{s}' for c in config.cameras if c.depth
               for s in ('camera_info', 'image_raw')]
    assert sorted(by_topic) == sorted(
        ['/clock', '/gates/entry_scans', '/shelves/shelf_a/load_cells',
         '/shelves/shelf_b/load_cells', '/shelves/shelf_c/load_cells', '/tf_static',
         '/cameras/gate_cam/color/camera_info', '/cameras/gate_cam/color/image_raw',
         *cameras, *(['/rfid/exit_reader/reads'] if truth['rfid_reads'] else [])])
    assert [t for _, t, _ in messages] == sorted(t for _, t, _ in messages)
    (_, tf_static), = by_topic['/tf_static']
    assert [t['child_frame_id'] for t in tf_static['transforms']] == \
        [t.child for t in store_static_transforms(config)]
    scans = [m for _, m in by_topic['/gates/entry_scans']]
    assert [(m['account_token'], m['party_size'], m['kind'], m['session_id'] == m['event_id'])
            for m in scans] == [(s['account_token'], s['party_size'], 0, True)
                                for s in truth['shoppers']]
    readings = [m for _, m in by_topic['/shelves/shelf_a/load_cells']]
    assert len(readings) == 180 and all(m['sample_count'] == 6 for m in readings)
    assert readings[0]['slot_ids'] == [s.id for s in config.shelf('shelf_a').slots]
    with AnyReader([bags / 'first']) as reader:
        durability = {c.topic: c.ext.offered_qos_profiles[0].durability
                      for c in reader.connections}
    assert durability['/tf_static'] == QosDurability.TRANSIENT_LOCAL


def test_decoded_samples_are_the_simulated_signal(tmp_path):
    config = load_store_config(LONDON)
    result = simulate(config, generate_scenario(config, 9, 2, 10.0, 'easy'))
    write_bag(result, tmp_path / 'bag')
    rows = [np.frombuffer(m['grams'][2], dtype=np.float32).reshape(m['sample_count'], -1)
            for topic, _, m in decoded(tmp_path / 'bag') if topic == '/shelves/shelf_b/load_cells']
    np.testing.assert_array_equal(np.concatenate(rows), result.signals['shelf_b'].grams)


def test_truncated_bag_is_one_line_naming_the_file(bags, tmp_path, capsys):
    broken = tmp_path / 'broken'
    shutil.copytree(bags / 'first', broken)
    mcap = broken / 'first.mcap'
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    assert bag_info_main([str(broken)]) == 1
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and str(broken) in error and 'Traceback' not in error
    assert bag_info_main([str(bags / 'first')]) == 0
    out = capsys.readouterr().out
    assert '180  /shelves/shelf_a/load_cells' in out and 'duration: 18.000 s' in out


def test_generate_refuses_an_existing_out_and_bad_store(bags, tmp_path, capsys):
    assert generate_main(['--store', str(LONDON), '--out', str(bags / 'first')]) == 1
    assert 'already exists' in capsys.readouterr().err
    bad = tmp_path / 'store.yaml'
    bad.write_text('store: {id: 7}\n')
    assert generate_main(['--store', str(bad), '--out', str(tmp_path / 'x')]) == 1
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and str(bad) in error


def test_committed_sample_bags_regenerate_bit_for_bit(tmp_path):
    subprocess.run(['bash', str(ROOT / 'scripts' / 'generate_sample_bags.sh')], check=True,
                   env={**os.environ, 'BAGS_DIR': str(tmp_path)}, capture_output=True)
    committed = sorted(p.relative_to(ROOT / 'bags') for p in (ROOT / 'bags').rglob('*')
                       if p.is_file() and p.parent != ROOT / 'bags')
    assert committed == sorted(p.relative_to(tmp_path) for p in tmp_path.rglob('*') if p.is_file())
    for relative in committed:
        assert (tmp_path / relative).read_bytes() == (ROOT / 'bags' / relative).read_bytes(), \
            f'bags/{relative} is stale: run scripts/generate_sample_bags.sh'
