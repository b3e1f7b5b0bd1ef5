"""scripts/replay_cores.py on the committed easy bag: the nodes' cores, chained without DDS,
charge every shopper exactly what they took (a regression in any core shows here)."""

import importlib.util
import json
import sys
from pathlib import Path

from jwo_fusion.fusion import StoreFusion
from jwo_sim.scoring import score_store

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location('replay_cores',
                                              REPO / 'scripts' / 'replay_cores.py')
replay_cores = importlib.util.module_from_spec(SPEC)
sys.modules['replay_cores'] = replay_cores     # its dataclasses look their module up there
SPEC.loader.exec_module(replay_cores)


def test_the_cores_charge_every_shopper_of_the_easy_bag_exactly(tmp_path):
    bag = REPO / 'bags' / 'london_easy'
    truth = json.loads((bag / 'ground_truth.json').read_text())
    config = replay_cores.store_of(bag)
    outputs = replay_cores.sensor_outputs(bag, None, tmp_path)
    assert len(outputs.camera_scans) == len(truth['shoppers'])      # read off the gate camera
    run = replay_cores.replay(outputs, outputs.camera_scans, StoreFusion(config),
                              truth['start_unix_s'])
    score = score_store(truth, config, replay_cores.receipts(run, config), run.tracks,
                        run.reviewed)
    assert [(s.account_token, s.charged_units) for s in score.shoppers] == \
        [(s.account_token, s.true_units) for s in score.shoppers]
    assert score.idf1 > 0.9
    # The cache is what a second run reads instead of detecting again.
    assert replay_cores.sensor_outputs(bag, None, tmp_path) == outputs
