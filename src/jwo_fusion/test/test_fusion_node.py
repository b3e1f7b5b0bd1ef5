"""The fusion node over real rclpy: an entry scan, camera detections and a shelf event in;
tracked shoppers, TF, markers, carts, a review request, a decision that changes the cart,
and the exit event out. Plus: everything the store view (config/jwo.rviz) shows is published."""

import threading
from pathlib import Path

import pytest
import rclpy
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from jwo_common.qos import EVENTS, LATCHED_LISTENER
from jwo_common.signed_messages import (check_gate_event, check_review_decision,
                                        open_keystore, sign_gate_event, sign_review_decision)
from jwo_common.signing import Signer, Verdict, Verifier
from jwo_common.store_config import load_store_config
from jwo_common.testing import spin_until, store_signer, wall_clock_ns
from jwo_common.tf import TF_QOS
from jwo_fusion.attribution import EventKind
from jwo_fusion.fusion import AlertKind
from jwo_fusion.fusion_node import FusionNode
from jwo_fusion.messages import shelf_activity, to_time
from jwo_fusion.review import ReviewReason
from jwo_fusion.review_cli import main as review_main
from jwo_fusion.store_markers_node import StoreMarkersNode
from jwo_interfaces.msg import (Cart, GateEvent, ProductCandidate, ReviewDecision, ReviewRequest,
                                ReviewShare, ShelfEvent, ShopperDetection,
                                ShopperDetectionArray, StoreAlert, TrackedShopperArray)

ROOT = Path(__file__).resolve().parents[3]
STORE = ROOT / 'config' / 'london' / 'store.yaml'
RVIZ = ROOT / 'config' / 'jwo.rviz'
T0_S = 1_767_225_600.0
FRAME_S = 1 / 15


@pytest.fixture
def rig(tmp_path):
    context = rclpy.Context()
    rclpy.init(context=context)
    params = [Parameter('store_config', value=str(STORE)),
              Parameter('publish_period_s', value=0.05),
              Parameter('journal_path', value=str(tmp_path / 'fusion_journal.sqlite3'))]
    fusion = FusionNode(context=context, parameter_overrides=params)
    layout = StoreMarkersNode(context=context, parameter_overrides=params[:1])
    probe = rclpy.create_node('probe', context=context)
    executor = SingleThreadedExecutor(context=context)
    for node in (fusion, layout, probe):
        executor.add_node(node)
    try:
        yield fusion, probe, executor
    finally:
        executor.shutdown()
        for node in (fusion, layout, probe):
            node.destroy_node()
        context.try_shutdown()


def position_at(t_s):
    """Alice: at the entry, to shelf_a's a_11 by 5 s, stays until 8 s, out by 13 s."""
    keyframes = [(0, 0.75, 0.5), (1, 0.75, 0.5), (5, 2.25, 4.55), (8, 2.25, 4.55),
                 (12, 10.2, 1.5), (13, 11.2, 0.5)]
    for (t0, x0, y0), (t1, x1, y1) in zip(keyframes, keyframes[1:]):
        if t_s <= t1:
            f = (t_s - t0) / (t1 - t0)
            return x0 + f * (x1 - x0), y0 + f * (y1 - y0)
    return keyframes[-1][1:]


def detections(t_s):
    msg = ShopperDetectionArray(camera_id='cam_01')
    msg.header.stamp = to_time(T0_S + t_s)
    msg.header.frame_id = 'map'
    if t_s <= 13.2:
        x, y = position_at(t_s)
        detection = ShopperDetection(position_stddev_m=0.05, confidence=0.9,
                                     reaching=6.5 <= t_s <= 7.0)
        detection.position.x, detection.position.y, detection.position.z = x, y, 1.7
        detection.reach_point.x, detection.reach_point.y, detection.reach_point.z = 2.25, 5.1, 0.9
        msg.detections = [detection]
    return msg


def test_detections_gate_and_shelf_events_in_tracks_carts_tf_markers_exit_out(rig, capsys):
    fusion, probe, executor = rig
    tracked, tf, markers, carts, requests, gate_events = [], [], [], [], [], []
    probe.create_subscription(TrackedShopperArray, '/shoppers/tracked', tracked.append, 10)
    probe.create_subscription(TFMessage, '/tf', tf.append, TF_QOS)
    probe.create_subscription(MarkerArray, '/store/markers', markers.append, 10)
    probe.create_subscription(Cart, '/carts', carts.append, EVENTS)
    probe.create_subscription(ReviewRequest, '/review/requests', requests.append, EVENTS)
    probe.create_subscription(GateEvent, '/gates/events', gate_events.append, EVENTS)
    camera = probe.create_publisher(ShopperDetectionArray, '/cameras/cam_01/detections', 10)
    gates = probe.create_publisher(GateEvent, '/gates/events', EVENTS)
    shelves = probe.create_publisher(ShelfEvent, '/shelves/events', EVENTS)
    decisions = probe.create_publisher(ReviewDecision, '/review/decisions', EVENTS)
    spin_until(executor, lambda: all(p.get_subscription_count() > 0 for p in
                                     (camera, gates, shelves, decisions)), 10, 'the node')

    entry = GateEvent(event_id='entry-1', gate_id='entry_1', kind=GateEvent.ENTRY,
                      session_id='entry-1', account_token='acct-alice', party_size=1)
    entry.header.stamp = to_time(T0_S)
    sign_gate_event(store_signer(STORE, 'entry_1', 'gate'), entry, wall_clock_ns())
    gates.publish(entry)
    steps = iter(range(10_000))

    def feed_until(t_end_s):
        for step in steps:
            t_s = step * FRAME_S
            camera.publish(detections(t_s))
            executor.spin_once(timeout_sec=0)
            if t_s >= t_end_s:
                return

    feed_until(8.0)
    spin_until(executor, lambda: any(s.account_token == 'acct-alice' and s.state == 1
                                     for m in tracked for s in m.shoppers), 10, 'alice tracked')
    spin_until(executor, lambda: any(t.child_frame_id.startswith('shopper_')
                                     and t.header.frame_id == 'map'
                                     for m in tf for t in m.transforms), 10, 'her TF frame')
    spin_until(executor, lambda: any(m.ns == 'shoppers' for a in markers for m in a.markers),
               10, 'her marker')

    # The shelf is not sure whether one or two bottles left: a person decides.
    event = ShelfEvent(event_id='shelf-e1', shelf_id='shelf_a', slot_ids=['a_11'],
                       kind=ShelfEvent.PICK, delta_grams=-1040.0,
                       candidates=[ProductCandidate(sku='GB-MILK-1L', quantity=1,
                                                    probability=0.6),
                                   ProductCandidate(sku='GB-MILK-1L', quantity=2,
                                                    probability=0.35)])
    event.started = to_time(T0_S + 6.4)
    event.header.stamp = to_time(T0_S + 7.5)
    shelves.publish(event)
    spin_until(executor, lambda: requests and carts, 10, 'a review request and a cart')
    assert requests[0].event.event_id == 'shelf-e1'
    assert requests[0].reason == ReviewRequest.ITEM
    assert carts[-1].session_id == 'entry-1' and carts[-1].pending_review
    assert [(i.sku, i.quantity) for i in carts[-1].items] == [('GB-MILK-1L', 1)]

    feed_until(14.0)
    spin_until(executor, lambda: any(e.kind == GateEvent.EXIT for e in gate_events), 10,
               'the exit seen on the cameras')
    exit_event = next(e for e in gate_events if e.kind == GateEvent.EXIT)
    assert (exit_event.session_id, exit_event.account_token, exit_event.gate_id) == \
        ('entry-1', 'acct-alice', 'exit_1')
    verifier = Verifier(open_keystore(load_store_config(STORE)), 30.0)
    assert check_gate_event(verifier, exit_event, wall_clock_ns()) == Verdict.ACCEPTED

    # Staff look at the request and answer it with jwo_review, signed with their key.
    revision = carts[-1].revision
    answers = {}

    def review(*argv):
        answers[argv[0]] = review_main([argv[0], str(STORE), *argv[1:]])
    lister = threading.Thread(target=review, args=('list', '--wait', '20'))
    lister.start()
    spin_until(executor, lambda: not lister.is_alive(), 20, 'jwo_review list')
    assert answers['list'] == 0 and requests[0].request_id in capsys.readouterr().out
    decider = threading.Thread(target=review, args=(
        'decide', requests[0].request_id, '--reviewer', 'staff', '--session', 'entry-1',
        '--item', 'GB-MILK-1L:2'))
    decider.start()
    spin_until(executor, lambda: carts[-1].revision > revision and not decider.is_alive(), 20,
               'the corrected cart')
    assert answers['decide'] == 0
    assert [(i.sku, i.quantity) for i in carts[-1].items] == [('GB-MILK-1L', 2)]
    assert not carts[-1].pending_review


def rviz_displays(node):
    for display in node.get('Displays', []):
        yield display
        yield from rviz_displays(display)


def test_everything_the_store_view_shows_is_published(rig):
    fusion, probe, executor = rig
    view = yaml.safe_load(RVIZ.read_text())['Visualization Manager']
    topics = {d['Topic']['Value']: d['Class'] for d in rviz_displays(view) if 'Topic' in d}
    assert view['Global Options']['Fixed Frame'] == 'map'
    spin_until(executor, lambda: {'/store/markers', '/store/layout_markers', '/tf'}
               <= {name for name, _ in probe.get_topic_names_and_types()}, 10, 'the graph')
    published = {name: types for name, types in probe.get_topic_names_and_types()
                 if probe.get_publishers_info_by_topic(name)}
    cameras = [c.id for c in load_store_config(STORE).cameras]
    for topic, display in topics.items():
        if display == 'rviz_default_plugins/Image':
            # Published by jwo_cameras' camera node, one per configured camera.
            assert topic in {f'/cameras/{c}/{stream}/image_raw' for c in cameras
                             for stream in ('depth', 'color')}, topic
        else:
            assert topic in published, f'{display} shows {topic}, which nobody publishes'
            assert published[topic] == ['visualization_msgs/msg/MarkerArray']
    assert any(d['Class'] == 'rviz_default_plugins/TF' for d in rviz_displays(view))
    # The layout is drawn in the fixed frame (the shoppers' frames hang off map: test above).
    markers = []
    probe.create_subscription(MarkerArray, '/store/layout_markers', markers.append,
                              LATCHED_LISTENER)
    spin_until(executor, lambda: markers, 10, 'the latched layout')
    assert all(m.header.frame_id == 'map' for m in markers[0].markers)


def test_unsigned_forged_and_replayed_entries_and_decisions_change_nothing(rig):
    """Anyone on the domain can publish: fusion opens no session and changes no cart (no
    refund follows) on a decision its keystore does not vouch for; an alert each."""
    _, probe, executor = rig
    alerts, carts, tracked = [], [], []
    probe.create_subscription(StoreAlert, '/store/alerts', alerts.append, EVENTS)
    probe.create_subscription(Cart, '/carts', carts.append, EVENTS)
    probe.create_subscription(TrackedShopperArray, '/shoppers/tracked', tracked.append, 10)
    camera = probe.create_publisher(ShopperDetectionArray, '/cameras/cam_01/detections', 10)
    gates = probe.create_publisher(GateEvent, '/gates/events', EVENTS)
    decisions = probe.create_publisher(ReviewDecision, '/review/decisions', EVENTS)
    spin_until(executor, lambda: all(p.get_subscription_count() > 0 for p in
                                     (camera, gates, decisions)), 10, 'the node')
    staff = store_signer(STORE, 'staff', 'reviewer')

    def entry(event_id, signer):
        msg = GateEvent(event_id=event_id, gate_id='entry_1', kind=GateEvent.ENTRY,
                        session_id=event_id, account_token='acct-mallory', party_size=1)
        msg.header.stamp = to_time(T0_S)
        if signer:
            sign_gate_event(signer, msg, wall_clock_ns())
        return msg

    def decision(request_id, reviewer_id, signer):
        msg = ReviewDecision(request_id=request_id, reviewer_id=reviewer_id, session_id='s',
                             items=[ProductCandidate(sku='GB-MILK-1L', quantity=5,
                                                     probability=1.0)])
        if signer:
            sign_review_decision(signer, msg, wall_clock_ns())
        return msg

    genuine = decision('r-4', 'staff', staff)
    attacks = [
        (gates, entry('e-unsigned', None)),
        (gates, entry('e-forged', Signer(store_signer(STORE, 'entry_1', 'gate').key_id,
                                         Ed25519PrivateKey.generate()))),
        (gates, entry('e-by-reviewer', staff)),
        (decisions, decision('r-1', 'staff', None)),
        (decisions, decision('r-2', 'staff', Signer(staff.key_id,
                                                    Ed25519PrivateKey.generate()))),
        (decisions, decision('r-3', 'boss', staff)),     # staff's key, someone else's name
        (decisions, genuine),
        (decisions, genuine),                            # replayed
    ]
    for publisher, msg in attacks:
        publisher.publish(msg)
    for step in range(int(4.0 / FRAME_S)):     # a shopper at the gate the entries would bind
        camera.publish(detections(step * FRAME_S))
        executor.spin_once(timeout_sec=0)
    # The shopper walked in on no genuine scan: that is an alert of its own.
    def security():
        return [a for a in alerts if a.kind == StoreAlert.SECURITY and 'refused' in a.description]
    spin_until(executor, lambda: len(security()) >= len(attacks) - 1, 10, 'an alert per attack')
    spin_until(executor, lambda: tracked, 10, 'tracked shoppers')
    assert sorted(ref for a in security() for ref in a.refs) == \
        ['e-by-reviewer', 'e-forged', 'e-unsigned', 'r-1', 'r-2', 'r-3', 'r-4']
    assert [a.description for a in security() if a.refs == ['r-4']] == \
        ["review decision 'r-4' refused: replayed nonce"]
    assert not any(s.account_token for m in tracked for s in m.shoppers)
    assert carts == []


@pytest.mark.parametrize('core_enum, msg_type', [(ReviewReason, ReviewRequest),
                                                 (EventKind, ShelfEvent),
                                                 (AlertKind, StoreAlert)])
def test_the_cores_constants_are_the_messages(core_enum, msg_type):
    # The core converts by value: a constant added to one side only would mislabel.
    for member in core_enum:
        assert getattr(msg_type, member.name) == member.value, member


@pytest.mark.parametrize('lifted_s', [12.35, None])
def test_a_shelf_events_lift_crosses_the_message_and_zero_is_not_seen(lifted_s):
    event = ShelfEvent(event_id='shelf-e1', shelf_id='shelf_a', slot_ids=['a_11'],
                       kind=ShelfEvent.PICK, started=to_time(12.0),
                       lifted=to_time(lifted_s) if lifted_s else to_time(0.0))
    event.header.stamp = to_time(12.6)
    assert shelf_activity(event).lifted_s == (pytest.approx(lifted_s) if lifted_s else None)


def test_the_signature_covers_each_share_of_a_split_decision():
    verifier = Verifier(open_keystore(load_store_config(STORE)), 30.0)

    def split(bob_quantity):
        return ReviewDecision(request_id='review-e1', reviewer_id='staff', shares=[
            ReviewShare(session_id=session_id, items=[ProductCandidate(
                sku='GB-CRISPS-6', quantity=quantity, probability=1.0)])
            for session_id, quantity in (('session-alice', 2), ('session-bob', bob_quantity))])
    signed = split(1)
    sign_review_decision(store_signer(STORE, 'staff', 'reviewer'), signed, wall_clock_ns())
    tampered = split(0)
    tampered.signature = signed.signature
    assert check_review_decision(verifier, tampered, wall_clock_ns()) == Verdict.BAD_SIGNATURE
    assert check_review_decision(verifier, signed, wall_clock_ns()) == Verdict.ACCEPTED


@pytest.mark.parametrize('argv, complaint', [
    (['--share', 'session-a:GB-MILK-1L'], 'expected SESSION:SKU:QUANTITY'),
    (['--share', 'session-a:GB-MILK-1L:2', '--session', 'session-b'], '--share replaces'),
    ([], '--session (or --share) is required')])
def test_jwo_review_says_what_is_wrong_with_a_decision(argv, complaint, capsys):
    with pytest.raises(SystemExit):
        review_main(['decide', str(STORE), 'review-e1', '--reviewer', 'staff', *argv])
    assert complaint in capsys.readouterr().err
