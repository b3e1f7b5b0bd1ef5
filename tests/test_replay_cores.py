"""scripts/replay_cores.py on the committed easy bag: the nodes' cores, chained without DDS,
charge every shopper exactly what they took (a regression in any core shows here), also
when fusion is killed in the middle and restarts from its journal, and send a shopper to
review who took something while the shelf's cells were frozen; and a soak's record of what
fusion was sent replays in the order it came."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from jwo_fusion.attribution import EventKind
from jwo_fusion.fusion import StoreFusion
from jwo_sim.scoring import score_store

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location('replay_cores',
                                              REPO / 'scripts' / 'replay_cores.py')
replay_cores = importlib.util.module_from_spec(SPEC)
sys.modules['replay_cores'] = replay_cores     # its dataclasses look their module up there
SPEC.loader.exec_module(replay_cores)


BAG = REPO / 'bags' / 'london_easy'


@pytest.fixture(scope='module')
def easy(tmp_path_factory):
    """(truth, config, sensor outputs, cache folder) of the easy bag."""
    cache = tmp_path_factory.mktemp('replay_cache')
    return (json.loads((BAG / 'ground_truth.json').read_text()), replay_cores.store_of(BAG),
            replay_cores.sensor_outputs(BAG, None, cache), cache)


def exact_and_charged(truth, config, run):
    score = score_store(truth, config, replay_cores.receipts(run, config), run.tracks,
                        run.reviewed)
    charged = [(s.account_token, s.charged_units) for s in score.shoppers]
    return charged == [(s.account_token, s.true_units) for s in score.shoppers], score


def test_the_cores_charge_every_shopper_of_the_easy_bag_exactly(easy):
    truth, config, outputs, cache = easy
    assert len(outputs.camera_scans) == len(truth['shoppers'])      # read off the gate camera
    run = replay_cores.replay(outputs, outputs.camera_scans, StoreFusion(config),
                              truth['start_unix_s'])
    exact, score = exact_and_charged(truth, config, run)
    assert exact and score.idf1 > 0.9
    # The cache is what a second run reads instead of detecting again.
    assert replay_cores.sensor_outputs(BAG, None, cache) == outputs


def test_a_fusion_killed_while_shoppers_come_in_charges_nobody_wrong_unreviewed(easy):
    truth, config, outputs, _ = easy
    # Killed as the first pick settles, while the third shopper walks in: she is never seen
    # at the gate, and the pick reaches the restarted fusion with the shoppers it journalled.
    first_pick_s = min(e['t_settled_s'] for e in truth['events'])
    run = replay_cores.replay(outputs, outputs.camera_scans, StoreFusion(config),
                              truth['start_unix_s'], crash=replay_cores.Crash(first_pick_s))
    assert run.restarts == 1
    _, score = exact_and_charged(truth, config, run)
    assert len(run.exits) == len(truth['shoppers'])
    assert [s.account_token for s in score.shoppers if not (s.exact or s.held)] == []


def test_cells_frozen_under_a_pick_send_its_shopper_to_review(easy):
    truth, config, _, cache = easy
    pick = min(truth['events'], key=lambda e: e['t_settled_s'])
    # Frozen from 8 s before the pick (long enough to be found stuck) to 8 s after.
    stuck = replay_cores.StuckCells(pick['shelf_id'], pick['t_start_s'] - 8.0,
                                    pick['t_settled_s'] + 8.0)
    outputs = replay_cores.sensor_outputs(BAG, None, cache, stuck)
    kinds = [activity.kind for _, activity in outputs.activities
             if activity.shelf_id == pick['shelf_id']]
    assert EventKind.OUTAGE in kinds and EventKind.RESTORED in kinds
    run = replay_cores.replay(outputs, outputs.camera_scans, StoreFusion(config),
                              truth['start_unix_s'])
    _, score = exact_and_charged(truth, config, run)
    taker = next(s for s in score.shoppers if s.account_token == pick['account_token'])
    assert taker.held
    assert [s.account_token for s in score.shoppers if not (s.exact or s.held)] == []


def test_a_soaks_record_of_what_fusion_was_sent_replays_in_the_order_it_came(tmp_path):
    from jwo_interfaces.msg import GateEvent, ShelfEvent, ShopperDetection, ShopperDetectionArray
    from rclpy.serialization import serialize_message
    from rosbags.rosbag2 import StoragePlugin, Writer

    from jwo_sim.bag_writer import jwo_typestore

    def stamped(msg, stamp_s):
        msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), round(stamp_s % 1 * 1e9)
        return msg

    wall_s = 1000.0             # receive times are wall clock, stamps sensor time
    store = jwo_typestore()
    writer = Writer(tmp_path / 'fusion_inputs', version=9, storage_plugin=StoragePlugin.MCAP)
    with writer:
        topics = {topic: writer.add_connection(topic, f'jwo_interfaces/msg/{kind}',
                                               typestore=store)
                  for topic, kind in [('/cameras/cam_01/detections', 'ShopperDetectionArray'),
                                      ('/shelves/events', 'ShelfEvent'),
                                      ('/gates/events', 'GateEvent')]}
        person = ShopperDetection(position_stddev_m=0.08, confidence=0.9)
        person.position.x, person.position.y = 2.0, 3.0
        sent = [  # (topic, receive time, message)
            ('/gates/events', 99.5, stamped(GateEvent(event_id='e1', session_id='e1',
                                                     gate_id='entry_1', kind=GateEvent.ENTRY,
                                                     account_token='acct_1'), 99.0)),
            ('/cameras/cam_01/detections', 100.05, stamped(ShopperDetectionArray(
                camera_id='cam_01', detections=[person]), 100.0)),
            ('/cameras/cam_01/detections', 100.5, stamped(ShopperDetectionArray(
                camera_id='cam_01'), 100.1)),                               # held up 0.35 s
            ('/shelves/events', 100.3, stamped(ShelfEvent(event_id='s1', shelf_id='shelf_a',
                                                          slot_ids=['a_11']), 100.2)),
            ('/gates/events', 100.6, stamped(GateEvent(event_id='x1', kind=GateEvent.EXIT,
                                                      gate_id='exit_1'), 100.55))]
        for topic, receive_s, msg in sent:
            writer.write(topics[topic], round((wall_s + receive_s) * 1e9), serialize_message(msg))

    outputs, inputs = replay_cores.live_inputs(tmp_path / 'fusion_inputs')
    # The quickest detection took 0.05 s: arrivals on sensor time are receive time - that.
    assert [(kind, round(arrival_s, 3)) for arrival_s, _, _, kind, _, _ in inputs] == [
        ('scan', 99.45), ('frame', 100.0), ('shelf', 100.25), ('frame', 100.45)]
    assert [scan.account_token for scan in outputs.camera_scans] == ['acct_1']
    [(stamp_s, camera_id, people)] = outputs.frames[:1]
    assert (stamp_s, camera_id, [(p.x, p.y) for p in people]) == (100.0, 'cam_01', [(2.0, 3.0)])
    assert [activity.event_id for _, activity in outputs.activities] == ['s1']
