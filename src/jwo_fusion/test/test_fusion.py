"""The fusion core on the London store: identity from entry scans (groups too), shelf events
given to the right cart, put-backs, review decisions before and after the exit, alerts, and
a restart on the journal."""

import base64
import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from jwo_common.store_config import load_store_config
from jwo_fusion.attribution import (EventKind, ItemCandidate, ShelfActivity, attribute,
                                    slot_front_points)
from jwo_fusion.fusion import AlertKind, FusionSettings, StoreFusion
from jwo_fusion.identity import EntryScan
from jwo_fusion.journal import FusionJournal, JournalError, decode, encode
from jwo_fusion.review import ReviewDecisionData, ReviewReason, ReviewRequestData, ReviewShare
from jwo_fusion.tracker import Detection, Track, TrackState

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
FRAME_S = 1 / 15
ENTRY_XY = (0.75, 0.5)
# Standing in front of shelf_a's a_11 (milk) and a_12 (milk), shelf front at y = 5.
AT_A11, AT_A12 = (2.25, 4.55), (2.75, 4.55)
A11_HAND, A12_HAND = (2.25, 5.1, 0.9), (2.75, 5.1, 0.9)


@pytest.fixture(scope='module')
def config():
    return load_store_config(STORE)


def path(*keyframes):
    """Piecewise-linear walk through (t, x, y) keyframes; the last point is held."""
    t, x, y = (np.array(v, dtype=float) for v in zip(*keyframes))
    return lambda now: (float(np.interp(now, t, x)), float(np.interp(now, t, y)))


class Store:
    def __init__(self, config, settings=FusionSettings()):
        self.fusion = StoreFusion(config, settings)
        self.outputs = []
        self.rng = np.random.default_rng(7)
        self.t_s = 0.0

    def run(self, until_s, people, hands=lambda t, name: None):
        """Frames of one camera that sees everyone in `people` (name -> path) present now."""
        while self.t_s < until_s:
            frame = []
            for name, (start_s, end_s, where) in people.items():
                if start_s <= self.t_s <= end_s:
                    x, y = np.array(where(self.t_s)) + self.rng.normal(0, 0.03, 2)
                    frame.append(Detection(float(x), float(y), 0.05, 0.9, hands(self.t_s, name)))
            self.outputs.append(self.fusion.on_detections(self.t_s, frame))
            self.outputs.append(self.fusion.advance(self.t_s))
            self.t_s += FRAME_S

    def scan(self, account, party_size=1):
        self.outputs.append(self.fusion.on_entry(EntryScan(
            f'entry-{account}', f'session-{account}', 'entry_1', account, party_size, self.t_s)))

    def shelf(self, event_id, slot_id, kind=EventKind.PICK, sku='GB-MILK-1L', quantity=1,
              probability=0.98, started_s=None):
        started_s = self.t_s - 1.0 if started_s is None else started_s
        out = self.fusion.on_shelf_activity(ShelfActivity(
            event_id, 'shelf_a', (slot_id,), kind, started_s, self.t_s - 0.3,
            -1040.0 if kind == EventKind.PICK else 1040.0,
            (ItemCandidate(sku, quantity, probability),)))
        self.outputs.append(out)
        return out

    def all(self, name):
        return [item for out in self.outputs for item in getattr(out, name)]

    def cart(self, account):
        return {line.sku: line.quantity for line in self.fusion.cart(f'session-{account}').lines}


def test_a_scan_binds_the_shopper_and_their_pick_goes_to_their_cart(config):
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    store.run(8.0, {'alice': alice},
              hands=lambda t, name: A11_HAND if 6.5 <= t <= 7.2 else None)
    [shopper] = store.fusion.shoppers()
    assert (shopper.account_token, shopper.identity_confidence) == ('alice', 1.0)
    out = store.shelf('e1', 'a_11')
    assert store.cart('alice') == {'GB-MILK-1L': 1}
    assert out.reviews == [] and out.alerts == []
    assert out.carts[-1].revision == 1 and not out.carts[-1].pending_review


def test_a_scan_the_gate_reports_late_still_binds_the_shopper(config):
    # The gate decodes app codes from a queue of frames: when it lags, the scan (stamped
    # with its frame's time) reaches fusion seconds after the shopper's track was born.
    store = Store(config)
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    store.run(2.8, {'alice': alice})
    store.outputs.append(store.fusion.on_entry(
        EntryScan('entry-alice', 'session-alice', 'entry_1', 'alice', 1, 0.3)))
    store.run(8.0, {'alice': alice})
    assert [s.session_id for s in store.fusion.shoppers()] == ['session-alice']
    assert store.all('alerts') == []


def alice_picks_at_a11_then_stands_at_a12(config, **pick) -> Store:
    """Alice takes `pick` (Store.shelf's options) at a_11, then stands in front of a_12."""
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11), (9, *AT_A11),
                             (10, *AT_A12)))
    store.run(8.0, {'alice': alice})
    store.shelf('e1', 'a_11', **pick)
    store.run(13.0, {'alice': alice})
    return store


def test_a_put_back_to_another_slot_takes_the_item_off_the_cart(config):
    store = alice_picks_at_a11_then_stands_at_a12(config, quantity=2)
    store.shelf('e2', 'a_12', kind=EventKind.PUT)
    assert store.cart('alice') == {'GB-MILK-1L': 1}
    assert store.all('carts')[-1].revision == 2


def test_a_group_shares_one_session_and_cart(config):
    store = Store(config)
    store.scan('family', party_size=2)
    parent = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    child = (1.0, 99.0, path((1, *ENTRY_XY), (2, *ENTRY_XY), (6, 6.0, 4.0)))
    store.run(8.0, {'parent': parent, 'child': child})
    shoppers = store.fusion.shoppers()
    assert len(shoppers) == 2
    assert {s.session_id for s in shoppers} == {'session-family'}
    store.shelf('e1', 'a_11')
    assert store.cart('family') == {'GB-MILK-1L': 1}


def test_a_put_back_of_near_identical_weight_is_read_from_the_shoppers_cart(config):
    store = alice_picks_at_a11_then_stands_at_a12(config, sku='GB-ALE-500')
    # The weight alone prefers the slot's own product; alice carries no milk, but an ale.
    out = store.fusion.on_shelf_activity(ShelfActivity(
        'e2', 'shelf_a', ('a_12',), EventKind.PUT, store.t_s - 1.5, store.t_s - 0.3, 1038.0,
        (ItemCandidate('GB-MILK-1L', 1, 0.62), ItemCandidate('GB-ALE-500', 1, 0.38))))
    assert out.reviews == []
    assert store.cart('alice') == {}


def test_a_companion_who_came_in_after_a_scan_does_not_take_the_next_shoppers_scan(config):
    # Ann's code did not say she brought her son; he waited in the gate's window for a scan
    # when Bob scanned, but Bob, seen right after his scan, is the nearer match.
    store = Store(config)
    store.scan('ann')
    ann = (0.0, 99.0, path((0, *ENTRY_XY), (0.5, *ENTRY_XY), (3, 8.0, 3.0)))
    son = (0.9, 99.0, path((0.9, *ENTRY_XY), (1.2, *ENTRY_XY), (3.5, 6.0, 4.0)))
    bob = (2.6, 99.0, path((2.6, *ENTRY_XY), (3.0, *ENTRY_XY), (7, *AT_A11)))
    people = {'ann': ann, 'son': son, 'bob': bob}
    store.run(2.5, people)
    store.scan('bob')
    store.run(9.0, people)
    assert [a.kind for a in store.all('alerts')] == [AlertKind.SECURITY]
    store.shelf('e1', 'a_11')
    assert store.cart('bob') == {'GB-MILK-1L': 1}
    assert store.cart('ann') == {}


def test_a_partys_last_member_does_not_take_the_scan_of_who_came_in_right_behind(config):
    # Ann scans for three; her party comes through 0.8 s apart, the last just before bob
    # scans. Bob is seen 0.43 s after his scan, the last of ann's party 0.2 s before it, so
    # that pairing the nearest first would swap them, and bob's track is reported only once
    # that nearest pair has settled.
    store = Store(config)
    store.scan('ann', party_size=3)
    def member(born_s, x):
        return (born_s, 99.0, path((born_s, *ENTRY_XY), (born_s + 0.2, *ENTRY_XY),
                                   (born_s + 1.2, 1.5, 1.5), (born_s + 3.0, x, 2.5)))
    people = {'ann': member(0.27, 4.0), 'kid': member(1.07, 5.0), 'gran': member(1.87, 6.0),
              'bob': (2.5, 99.0, path((2.5, *ENTRY_XY), (2.9, *ENTRY_XY), (7, *AT_A11)))}
    store.run(2.0, people)
    store.scan('bob')
    store.run(10.0, people)
    store.shelf('e1', 'a_11')
    assert store.cart('bob') == {'GB-MILK-1L': 1}
    assert store.cart('ann') == {}


def test_someone_who_did_not_scan_raises_an_alert_and_their_pick_too(config):
    store = Store(config)
    sneaky = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    store.run(8.0, {'sneaky': sneaky})
    assert [a.kind for a in store.all('alerts')] == [AlertKind.SECURITY]
    out = store.shelf('e1', 'a_11')
    assert [a.kind for a in out.alerts] == [AlertKind.LOSS_PREVENTION]
    assert [r.reason for r in out.reviews] == [ReviewReason.ANOMALY]


def test_a_pick_by_an_unscanned_companion_holds_the_sessions_scanned_then(config):
    # Mum's code did not say she brought her son; he walked in after her scan's window.
    store = Store(config)
    store.scan('early')
    early = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, 8.0, 3.0)))
    store.run(20.0, {'early': early})
    store.scan('mum')
    mum = (20.0, 99.0, path((20, *ENTRY_XY), (21, *ENTRY_XY), (25, 6.0, 3.0)))
    son = (25.0, 99.0, path((25, *ENTRY_XY), (26, *ENTRY_XY), (30, *AT_A11)))
    people = {'early': early, 'mum': mum, 'son': son}
    store.run(33.0, people)
    assert [a.kind for a in store.all('alerts')] == [AlertKind.SECURITY]
    out = store.shelf('e1', 'a_11')
    assert [a.kind for a in out.alerts] == [AlertKind.LOSS_PREVENTION]
    [request] = out.reviews
    assert 'session-mum' in {c.session_id for c in request.candidates}
    assert store.fusion.cart('session-mum').pending_review
    assert not store.fusion.cart('session-early').pending_review

    decided = store.fusion.on_decision(ReviewDecisionData(
        request.request_id, 'reviewer-1', False, 'session-mum',
        (ItemCandidate('GB-MILK-1L', 1, 1.0),)))
    assert store.cart('mum') == {'GB-MILK-1L': 1}
    assert not any(c.pending_review for c in decided.carts)


def test_a_pick_by_someone_no_track_follows_holds_the_shoppers_they_were_beside(config):
    # Their track went off with someone else in a crowd: they are on the floor as a stray,
    # and alice, who stood beside them, may be who they are. Before strays the milk went to
    # alice, the only shopper near, confidently.
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    lost = (6.0, 99.0, lambda t: AT_A12)
    store.run(10.0, {'alice': alice, 'lost': lost},
              hands=lambda t, name: A12_HAND if name == 'lost' and 8.5 <= t <= 9.5 else None)
    out = store.shelf('e1', 'a_12')
    [alert] = out.alerts
    assert alert.kind == AlertKind.LOSS_PREVENTION and 'away from the entry' in alert.description
    [request] = out.reviews
    assert 'session-alice' in {c.session_id for c in request.candidates}
    assert store.cart('alice') == {} and store.fusion.cart('session-alice').pending_review


def test_a_shopper_who_took_over_someone_lost_beside_others_goes_to_review(config):
    # Carol's track coasted out, a stray picked her up beside alice, and carol's lost track
    # took the stray over: it may be alice's person now, so its pick is not carol's for sure.
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    store.run(4.0, {'alice': alice})
    store.scan('carol')
    carol = (4.0, 9.0, path((4, *ENTRY_XY), (5, *ENTRY_XY), (9, 6.0, 3.0)))
    store.run(15.0, {'alice': alice, 'carol': carol})
    found = (15.0, 99.0, lambda t: AT_A12)
    store.run(20.0, {'alice': alice, 'found': found},
              hands=lambda t, name: A12_HAND if name == 'found' and 18.5 <= t <= 19.5 else None)
    assert {s.session_id for s in store.fusion.shoppers()} == {'session-alice', 'session-carol'}
    out = store.shelf('e1', 'a_12')
    [request] = out.reviews
    assert request.reason == ReviewReason.ATTRIBUTION and 'lost in a crowd' in \
        request.description
    assert store.cart('carol') == {'GB-MILK-1L': 1}
    assert store.fusion.cart('session-carol').pending_review
    assert store.fusion.cart('session-alice').pending_review
    # A fusion restarted on the journal still doubts who carol's track is.
    restarted = StoreFusion(config)
    restarted.restore(decode(encode(store.fusion.record())))
    carol_track = store.fusion.identity.sessions['session-carol'].track_ids[0]
    assert restarted.tracker.track(carol_track).suspects == \
        set(store.fusion.identity.sessions['session-alice'].track_ids)


def test_frames_that_arrive_out_of_time_order_are_applied_in_it(config):
    # Each camera's detections reach fusion when its frame has been processed: the second
    # camera's come 0.15 s late, after the first camera's newer ones.
    fusion = StoreFusion(config)
    fusion.on_entry(EntryScan('entry-alice', 'session-alice', 'entry_1', 'alice', 1, 0.0))
    walk = path((0, *ENTRY_XY), (1, *ENTRY_XY), (6, 7.75, 0.5))
    rng = np.random.default_rng(3)
    errors = []
    for step in range(int(5.0 / FRAME_S)):
        t_s = step * FRAME_S
        for stamp_s in (t_s, t_s - 0.15):
            if stamp_s >= 0:
                x, y = np.array(walk(stamp_s)) + rng.normal(0, 0.03, 2)
                fusion.on_detections(stamp_s, [Detection(float(x), float(y), 0.05, 0.9)])
        fusion.advance(t_s)
        if t_s >= 2.0:
            [estimate] = fusion.tracker.estimates(t_s)
            errors.append(np.hypot(estimate.x - walk(t_s)[0], estimate.y - walk(t_s)[1]))
    # Applied as if newest, each late frame would pull the shopper 0.2 m back.
    assert np.median(errors) < 0.05


def test_a_pick_with_nobody_near_is_a_loss_prevention_alert(config):
    store = Store(config)
    store.scan('alice')
    far = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, 9.0, 2.0)))
    store.run(8.0, {'alice': far})
    out = store.shelf('e1', 'a_11')
    assert [a.kind for a in out.alerts] == [AlertKind.LOSS_PREVENTION]
    assert 'e1' in out.alerts[0].refs
    assert store.cart('alice') == {}


def two_at_the_shelf(config, hands=lambda t, name: None):
    """Alice stands at a_11, bob beside her at a_12, until 12 s; `hands` as Store.run's."""
    store = Store(config)
    store.scan('alice')
    people = {'alice': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (3, 1.5, 2.0),
                                        (5, *AT_A11))),
              'bob': (4.0, 99.0, path((4, *ENTRY_XY), (5, *ENTRY_XY), (9, *AT_A12)))}
    store.run(4.0, people)
    store.scan('bob')
    store.run(12.0, people, hands=hands)
    return store


def test_a_reach_tells_two_shoppers_side_by_side_apart(config):
    store = two_at_the_shelf(config, hands=lambda t, name: A12_HAND if name == 'bob'
                             and 10.5 <= t <= 11.2 else None)
    out = store.shelf('e1', 'a_12')
    assert store.cart('bob') == {'GB-MILK-1L': 1}
    assert store.cart('alice') == {}
    assert out.reviews == []


def alice_at_a12_and_bob_walking(config, *bob_keyframes) -> Store:
    """Alice stands at a_12 from 5 s; bob comes in at 5 s and walks through `bob_keyframes`
    (t, x, y) from 9 s; until 12 s, no reach seen."""
    store = Store(config)
    store.scan('alice')
    people = {'alice': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (3, 1.5, 2.0),
                                        (5, *AT_A12))),
              'bob': (4.0, 99.0, path((4, *ENTRY_XY), (5, *ENTRY_XY), *bob_keyframes))}
    store.run(4.0, people)
    store.scan('bob')
    store.run(12.0, people)
    return store


def test_someone_walking_past_as_the_weight_changes_is_not_who_took_it(config):
    # Bob walks along the aisle past alice, in arm's reach of the slot just as its weight
    # starts to change.
    store = alice_at_a12_and_bob_walking(config, (9, 1.0, 4.2), (13, 5.8, 4.2))
    out = store.shelf('e1', 'a_12', started_s=11.0)
    assert store.cart('alice') == {'GB-MILK-1L': 1}
    assert store.cart('bob') == {}
    assert out.reviews == []


def test_a_walker_is_not_who_made_a_quick_change_at_sensor_epoch_times(config):
    # A weight change shorter than a reach takes to settle, stamped in epoch seconds (as the
    # sensors stamp them): alice stands at a_12, bob walks past within arm's reach of it.
    epoch_s = 1767225600.0
    times = epoch_s + np.arange(8.0, 12.0, FRAME_S)
    alice = Track('alice', None, times[-1], times[0], TrackState.CONFIRMED,
                  positions=deque((t, *AT_A12) for t in times))
    bob = Track('bob', None, times[-1], times[0], TrackState.CONFIRMED,
                positions=deque((t, 2.75 + 1.3 * (t - epoch_s - 10.0), 4.5) for t in times))
    change = ShelfActivity('e1', 'shelf_a', ('a_12',), EventKind.PICK, epoch_s + 10.0,
                           epoch_s + 10.4, -1040.0, (ItemCandidate('GB-MILK-1L', 1, 0.98),))
    result = attribute(change, [alice, bob], slot_front_points(config))
    assert result.probabilities['alice'] > 0.9
    assert result.probabilities['bob'] < 0.05


def test_who_walked_up_and_reached_while_the_plate_still_moved_is_held_too(config):
    # The weight of a_12 changes from 10 s to 11.7 s: alice's reach, and bob's, who walked
    # up beside her and stood still from 10.6 s. Walking as it started, he may still have
    # taken some of it: both wait for a person.
    store = alice_at_a12_and_bob_walking(config, (9, 0.2, 4.0), (10.6, *AT_A11))
    out = store.shelf('e1', 'a_12', started_s=10.0)
    [request] = out.reviews
    assert {c.session_id for c in request.candidates} >= {'session-alice', 'session-bob'}
    assert all(store.fusion.cart(f'session-{name}').pending_review for name in ('alice', 'bob'))


def test_a_reach_into_the_slot_before_its_weight_changed_does_not_name_who_took(config):
    # Alice's arm is in a_12 until 9.9 s; the plate's weight changes from 10.5 s, while
    # bob's arm goes unseen (shoulder to shoulder, one blob).
    store = two_at_the_shelf(config, hands=lambda t, name: A12_HAND if name == 'alice'
                             and 9.4 <= t <= 9.9 else None)
    out = store.shelf('e1', 'a_12', started_s=10.5)
    [request] = out.reviews
    assert request.reason == ReviewReason.ATTRIBUTION
    assert {c.session_id for c in request.candidates} == {'session-alice', 'session-bob'}
    assert all(store.fusion.cart(f'session-{name}').pending_review for name in ('alice', 'bob'))


def test_without_a_reach_side_by_side_goes_to_review_and_the_decision_moves_it(config):
    store = two_at_the_shelf(config)
    out = store.shelf('e1', 'a_12')
    [request] = out.reviews
    assert request.reason == ReviewReason.ATTRIBUTION
    assert {c.session_id for c in request.candidates} == {'session-alice', 'session-bob'}
    provisional = store.fusion.carts.sessions_with('e1')[0]
    other = ({'session-alice', 'session-bob'} - {provisional}).pop()
    assert all(store.fusion.cart(s).pending_review for s in (provisional, other))

    decided = store.fusion.on_decision(ReviewDecisionData(
        request.request_id, 'reviewer-1', False, other, (ItemCandidate('GB-MILK-1L', 1, 1.0),)))
    by_session = {c.session_id: c for c in decided.carts}
    assert {line.sku: line.quantity for line in by_session[other].lines} == {'GB-MILK-1L': 1}
    assert by_session[provisional].lines == ()
    assert not any(c.pending_review for c in decided.carts)
    again = store.fusion.on_decision(ReviewDecisionData(
        request.request_id, 'reviewer-1', False, other, (ItemCandidate('GB-MILK-1L', 1, 1.0),)))
    assert again.carts == [] and 'repeated' in again.refused
    unknown = store.fusion.on_decision(ReviewDecisionData('nope', 'r', True, '', ()))
    assert unknown.carts == [] and 'unknown request' in unknown.refused


def test_an_uncertain_product_goes_to_review_and_a_decision_after_the_exit_corrects_it(config):
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11), (8, *AT_A11),
                             (12, 10.2, 1.5), (13, 11.2, 0.5)))
    store.run(8.0, {'alice': alice})
    out = store.shelf('e1', 'a_11', quantity=1, probability=0.6)
    assert [r.reason for r in out.reviews] == [ReviewReason.ITEM]
    assert out.carts[-1].pending_review
    store.run(14.0, {'alice': alice})
    [exit_event] = store.all('exits')
    assert (exit_event.session_id, exit_event.gate_id) == ('session-alice', 'exit_1')
    before = store.fusion.cart('session-alice').revision
    decided = store.fusion.on_decision(ReviewDecisionData(
        out.reviews[0].request_id, 'reviewer-1', False, 'session-alice',
        (ItemCandidate('GB-MILK-1L', 2, 1.0),)))
    [cart] = decided.carts
    assert cart.revision > before
    assert [(line.sku, line.quantity) for line in cart.lines] == [('GB-MILK-1L', 2)]
    assert not cart.pending_review


def test_a_shopper_the_cameras_lose_for_good_leaves_a_receipt_held_for_review(config):
    # Lost at a shelf and never seen again (walked out unseen, as someone else's track):
    # the session must still close, but only a person can say the cart is right.
    store = Store(config)
    store.scan('alice')
    alice = (0.0, 10.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))
    store.run(8.0, {'alice': alice})
    store.shelf('e1', 'a_11')
    keep_s = store.fusion.settings.tracker.lost_keep_s
    store.run(10.0 + keep_s - 5.0, {'alice': alice})
    assert store.all('exits') == []
    store.run(10.0 + keep_s + 10.0, {'alice': alice})
    [exit_event] = store.all('exits')
    assert (exit_event.session_id, exit_event.gate_id) == ('session-alice', '')
    [request] = store.all('reviews')
    assert (request.reason, request.request_id) == (ReviewReason.LOST,
                                                    'review-lost-session-alice')
    held = store.fusion.cart('session-alice')
    assert held.pending_review and store.cart('alice') == {'GB-MILK-1L': 1}
    confirmed = store.fusion.on_decision(ReviewDecisionData(
        request.request_id, 'reviewer-1', True, '', ()))
    [cart] = confirmed.carts
    assert not cart.pending_review
    assert [(line.sku, line.quantity) for line in cart.lines] == [('GB-MILK-1L', 1)]


def test_a_replayed_shelf_event_changes_nothing(config):
    store = Store(config)
    store.scan('alice')
    store.run(8.0, {'alice': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11)))})
    store.shelf('e1', 'a_11')
    replay = store.shelf('e1', 'a_11')
    assert replay.carts == [] and store.cart('alice') == {'GB-MILK-1L': 1}


# Fusion killed mid-visit and restarted on its journal: the sessions, carts and counted shelf
# events survive, and the shoppers inside are found again and leave with their carts.
EXIT_XY = (11.2, 0.5)


def walk_in_pick_walk_out():
    """Alice and Bob come in, each takes milk at a_11 in turn, then walk out."""
    alice = (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11), (12, *AT_A11),
                             (22, 6.0, 2.5), (30, *EXIT_XY)))
    bob = (4.0, 99.0, path((4, *ENTRY_XY), (5, *ENTRY_XY), (9, 4.0, 3.0), (16, 4.0, 3.0),
                           (17, *AT_A11), (20, *AT_A11), (26, 8.0, 2.0), (34, *EXIT_XY)))
    return {'alice': alice, 'bob': bob}


def test_a_record_survives_the_journal_exactly(config, tmp_path):
    store = Store(config)
    store.scan('alice')
    store.run(8.0, walk_in_pick_walk_out())
    store.shelf('e1', 'a_11')
    store.shelf('e2', 'a_11', probability=0.6)              # unsure: a review request
    record = store.fusion.record()
    assert [r.request_id for r in record.reviews] == ['review-e2']
    assert decode(encode(record)) == record
    journal = FusionJournal(tmp_path / 'journal.sqlite3')
    assert journal.load() is None
    journal.save(record)
    journal.close()
    assert FusionJournal(tmp_path / 'journal.sqlite3').load() == record


def test_a_journal_that_is_not_ours_is_a_clear_error(tmp_path):
    journal = FusionJournal(tmp_path / 'journal.sqlite3')
    journal._db.execute("INSERT INTO record (id, document) VALUES (1, '{\"format\": 99}')")
    with pytest.raises(JournalError, match='journal.sqlite3: cannot read'):
        journal.load()


def test_a_journal_packs_track_histories_and_reads_the_fourth_formats_lists(config):
    store = Store(config)
    store.scan('alice')
    store.run(8.0, walk_in_pick_walk_out(), hands=lambda t, name: A12_HAND)
    record = store.fusion.record()
    [track] = record.tracks
    assert len(track.positions) > 50 and len(track.reaches) > 50
    document = json.loads(encode(record))
    [packed] = document['tracks']
    assert isinstance(packed['positions'], str) and isinstance(packed['reaches'], str)
    packed.update(positions=[list(row) for row in track.positions],
                  reaches=[list(row) for row in track.reaches])
    document['format'] = 4
    assert decode(json.dumps(document)) == record


def test_a_packed_track_history_of_broken_rows_is_a_clear_error(config, tmp_path):
    store = Store(config)
    store.scan('alice')
    store.run(8.0, walk_in_pick_walk_out())
    document = json.loads(encode(store.fusion.record()))
    document['tracks'][0]['positions'] = base64.b64encode(np.zeros(4).tobytes()).decode()
    journal = FusionJournal(tmp_path / 'journal.sqlite3')
    journal._db.execute('INSERT INTO record (id, document) VALUES (1, ?)',
                        (json.dumps(document),))
    with pytest.raises(JournalError, match='4 numbers, not rows of 3'):
        journal.load()


def test_after_a_crash_the_shoppers_inside_leave_with_their_carts(config):
    people = walk_in_pick_walk_out()
    before = Store(config)
    before.scan('alice')
    before.run(4.2, people)
    before.scan('bob')
    before.run(8.0, people)
    before.shelf('e1', 'a_11', quantity=2)
    before.run(10.0, people)
    before.shelf('e0', 'a_11', probability=0.6)             # unsure: waits for staff
    before.run(11.0, people)
    record = before.fusion.record()

    # The process dies at 11 s and is back on its journal 4 s later; nothing was seen between.
    after = Store(config)
    after.fusion.restore(record)
    after.t_s = 15.0
    after.run(19.0, people)
    after.shelf('e2', 'a_11')                              # bob's pick, after the restart
    out = after.shelf('e1', 'a_11', quantity=2)            # a redelivered event: counted once
    assert out.carts == [] and out.reviews == []
    # Staff answer the request raised before the crash: it was a pick of three, by alice.
    answer = after.fusion.on_decision(ReviewDecisionData(
        'review-e0', 'staff', False, 'session-alice', (ItemCandidate('GB-MILK-1L', 3, 1.0),)))
    assert not answer.refused and answer.carts
    after.run(40.0, people)
    assert after.cart('alice') == {'GB-MILK-1L': 5} and after.cart('bob') == {'GB-MILK-1L': 1}
    exits = {e.session_id: e for e in after.all('exits')}
    assert set(exits) == {'session-alice', 'session-bob'}
    assert not [a for a in after.all('alerts')]             # nobody taken for a stranger


def test_someone_who_came_in_while_fusion_was_down_takes_the_scan_made_then_for_review(config):
    people = walk_in_pick_walk_out()
    before = Store(config)
    before.scan('alice')
    before.run(3.0, people)
    record = before.fusion.record()
    # Down from 3 s to 8 s: Bob scans and walks in unseen; the gate's scan is latched.
    after = Store(config)
    after.fusion.restore(record)
    after.t_s = 8.0
    after.outputs.append(after.fusion.on_entry(EntryScan(
        'entry-bob', 'session-bob', 'entry_1', 'bob', 1, 4.1)))
    after.run(12.0, people)
    sessions = {s.session_id: s for s in after.fusion.shoppers()}
    assert set(sessions) == {'session-alice', 'session-bob'}
    assert sessions['session-alice'].identity_confidence == 1.0
    assert sessions['session-bob'].identity_confidence == 0.5
    [request] = after.all('reviews')
    assert request.reason == ReviewReason.IDENTITY and request.track_id == \
        sessions['session-bob'].estimate.track_id
    assert after.fusion.cart('session-bob').pending_review
    # Staff confirm it was Bob: his cart is released.
    confirmed = after.fusion.on_decision(ReviewDecisionData(
        request.request_id, 'staff', False, 'session-bob', ()))
    assert [cart.pending_review for cart in confirmed.carts] == [False]


def test_a_pick_from_just_before_a_crash_goes_to_who_was_at_the_shelf(config):
    before = Store(config)
    before.scan('alice')
    before.run(15.0, {'alice': walk_in_pick_walk_out()['alice']})   # at a_11 until 12 s
    after = StoreFusion(config)
    after.restore(decode(encode(before.fusion.record())))
    # The event settled at 10.8 s; it reaches fusion only after the restart (redelivered).
    out = after.on_shelf_activity(ShelfActivity(
        'e3', 'shelf_a', ('a_11',), EventKind.PICK, 10.3, 10.8, -1040.0,
        (ItemCandidate('GB-MILK-1L', 1, 0.98),)))
    assert [c.session_id for c in out.carts] == ['session-alice'] and out.alerts == []


def test_a_session_whose_shopper_was_not_bound_yet_still_binds(config):
    people = {'carol': (1.0, 99.0, path((1, *ENTRY_XY), (3, *ENTRY_XY), (8, *AT_A11)))}
    before = Store(config)
    before.scan('carol')
    before.run(0.5, people)
    record = before.fusion.record()                         # crashed before she was seen
    assert record.tracks == ()
    after = Store(config)
    after.fusion.restore(record)
    after.t_s = 0.6
    after.run(8.0, people)
    [shopper] = after.fusion.shoppers()
    assert shopper.account_token == 'carol'
    after.shelf('e1', 'a_11', kind=EventKind.PICK)
    assert after.cart('carol') == {'GB-MILK-1L': 1}


def test_a_session_that_left_long_ago_is_forgotten_unless_it_waits_for_review(config):
    store = Store(config, FusionSettings(retention_s=60.0))
    people = {'alice': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11),
                                        (8, *AT_A11), (12, 10.2, 1.5), (13, 11.2, 0.5))),
              'bob': (10.0, 99.0, path((10, *ENTRY_XY), (11, *ENTRY_XY), (16, *AT_A11),
                                       (20, *AT_A11), (24, 10.2, 1.5), (25, 11.2, 0.5)))}
    store.scan('alice')
    store.run(8.0, people)
    store.shelf('e1', 'a_11')
    store.run(10.0, people)
    store.scan('bob')
    store.run(19.0, people)
    [unsure] = store.shelf('e2', 'a_11', probability=0.6).reviews
    assert [c.session_id for c in unsure.candidates] == ['session-bob']
    store.run(26.0, people)
    assert [e.session_id for e in store.all('exits')] == ['session-alice', 'session-bob']
    store.run(90.0, {})         # both left 60 s ago and more
    record = store.fusion.record()
    # Bob's cart waits for staff: he, his review and his event are kept; Alice is gone.
    assert [s.session_id for s in record.sessions] == ['session-bob']
    assert [c.session_id for c in record.carts] == ['session-bob']
    assert list(record.seen_events) == ['e2'] and len(record.reviews) == 1
    assert store.fusion.entry_forgotten(0.0) and not store.fusion.entry_forgotten(10.0)
    store.outputs.append(store.fusion.on_decision(ReviewDecisionData(
        unsure.request_id, 'staff', False, 'session-bob', (ItemCandidate('GB-MILK-1L', 1, 1.0),))))
    assert store.cart('bob') == {'GB-MILK-1L': 1}
    store.run(92.0, {})
    record = store.fusion.record()
    assert (record.sessions, record.carts, record.seen_events, record.reviews) == ((), (), {}, ())
    assert store.fusion.entry_forgotten(10.0)
    late = store.fusion.on_decision(ReviewDecisionData(unsure.request_id, 'staff', True, '', ()))
    assert 'unknown request' in late.refused


def test_a_journal_of_the_third_format_gets_times_for_its_exits_and_counted_events(config):
    store = Store(config)
    store.scan('alice')
    store.run(8.0, walk_in_pick_walk_out())
    store.shelf('e1', 'a_11')
    store.run(31.0, walk_in_pick_walk_out())
    document = json.loads(encode(store.fusion.record()))
    document.update(format=3, seen_events=['e1'])
    del document['entries_forgotten_until_s']
    for session in document['sessions']:
        del session['exited_s']
    record = decode(json.dumps(document))
    assert record.seen_events == {'e1': record.now_s}
    assert [s.exited_s for s in record.sessions] == [record.now_s]


def test_a_journal_of_the_first_format_still_reads(config):
    store = Store(config)
    store.scan('alice')
    store.run(2.0, walk_in_pick_walk_out())
    document = json.loads(encode(store.fusion.record()))
    for key in ('reviews', 'decisions', 'held_sessions'):
        del document[key]
    document['format'] = 1
    assert decode(json.dumps(document)) == store.fusion.record()


# shelf_a's a_11 cells freeze at 3 s (found at 8 s) and read again at 18 s: whoever was at
# a_11 meanwhile is held for review, whoever stayed away is not.
AWAY_XY = (4.0, 3.0)      # 2.7 m from a_11's front


def outage(store, kind, event_id, started_s):
    out = store.fusion.on_shelf_activity(ShelfActivity(
        event_id, 'shelf_a', ('a_11',), kind, started_s, store.t_s, 0.0, ()))
    store.outputs.append(out)
    return out


def test_shoppers_at_a_shelf_whose_cells_failed_are_held_for_review(config, tmp_path):
    store = Store(config)
    store.scan('alice')
    people = {'alice': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (4, *AT_A11),
                                        (12, *AT_A11), (14, *AWAY_XY))),
              'bob': (2.0, 99.0, path((2, *ENTRY_XY), (3, *ENTRY_XY), (6, *AWAY_XY),
                                      (13, *AWAY_XY), (15, *AT_A11)))}
    store.run(2.0, people)
    store.scan('bob')
    store.run(8.0, people)
    began = outage(store, EventKind.OUTAGE, 'shelf_a-a_11-outage-8', 3.0)
    [alice_request] = began.reviews
    assert alice_request.reason == ReviewReason.SENSOR
    assert [c.session_id for c in alice_request.candidates] == ['session-alice']
    assert store.fusion.cart('session-alice').pending_review
    assert not store.fusion.cart('session-bob').pending_review
    record = store.fusion.record()
    assert [o.slot_id for o in record.outages] == ['a_11'] and decode(encode(record)) == record

    store.run(18.0, people)                         # bob comes to a_11 while it is blind
    bob_requests = [r for r in store.all('reviews')
                    if r.candidates[0].session_id == 'session-bob']
    assert [r.reason for r in bob_requests] == [ReviewReason.SENSOR]
    outage(store, EventKind.RESTORED, 'shelf_a-a_11-restored-18', 3.0)
    store.run(19.5, people)
    # The step the cells show once they read again is the outage's too: not charged blind.
    step = store.shelf('e1', 'a_11')
    assert [r.reason for r in step.reviews] == [ReviewReason.SENSOR]
    assert store.fusion.cart('session-bob').pending_review

    decided = store.fusion.on_decision(ReviewDecisionData(
        alice_request.request_id, 'reviewer-1', False, 'session-alice',
        (ItemCandidate('GB-MILK-1L', 1, 1.0),)))
    assert [c.session_id for c in decided.carts] == ['session-alice']
    assert store.cart('alice') == {'GB-MILK-1L': 1}
    assert not store.fusion.cart('session-alice').pending_review
    store.run(19.5 + store.fusion.settings.outage_grace_s + 1.0, people)
    assert store.fusion.record().outages == ()      # restored and past the grace: forgotten
    late = store.shelf('e2', 'a_11')
    assert late.reviews == []


def test_a_shopper_beside_a_blind_slot_is_held_too(config):
    """The soak's acct_9_052 took two packs from a frozen slot standing 0.64 m from its
    front and beside its middle; her track, a little further, was not held and she was
    charged nothing. Attribution would have given her the pick: so is the hold."""
    store = Store(config)
    store.scan('carol')
    beside_a11 = (AT_A11[0] + 0.7, AT_A11[1] - 0.1)       # 0.89 m from a_11's front
    people = {'carol': (0.0, 99.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *beside_a11),
                                        (10, *beside_a11), (12, *AWAY_XY))),
              'dave': (2.0, 99.0, path((2, *ENTRY_XY), (3, *ENTRY_XY), (6, *AWAY_XY)))}
    store.run(2.0, people)
    store.scan('dave')
    store.run(8.0, people)
    began = outage(store, EventKind.OUTAGE, 'shelf_a-a_11-outage-8', 3.0)
    assert [r.candidates[0].session_id for r in began.reviews] == ['session-carol']
    assert store.fusion.cart('session-carol').pending_review
    assert not store.fusion.cart('session-dave').pending_review


@pytest.mark.parametrize('settling_s, reviewed', [(0.8, False), (1.3, True)])
def test_a_weight_change_longer_than_one_reach_with_another_shopper_in_reach_is_reviewed(
        config, settling_s, reviewed):
    # The soak's acct_9_031 took 2 packs and acct_9_032, beside him, 1 right after: the plate
    # never rested, one event of 3 settled in 1.3 s, and it all went to 031 (92%): 032 left
    # unreviewed, charged nothing. Weight cannot split it; a person can.
    store = two_at_the_shelf(config, hands=lambda t, name:
                             A11_HAND if name == 'alice' and 10.6 <= t <= 11.4 else
                             (2.6, 5.1, 0.9) if name == 'bob' and 11.3 <= t <= 11.6 else None)
    out = store.shelf('e1', 'a_11', quantity=3, started_s=store.t_s - 0.3 - settling_s)
    assert store.cart('alice') == {'GB-MILK-1L': 3}
    held = {name for name in ('alice', 'bob')
            if store.fusion.cart(f'session-{name}').pending_review}
    assert held == ({'alice', 'bob'} if reviewed else set())
    assert [r.reason for r in out.reviews] == ([ReviewReason.ATTRIBUTION] if reviewed else [])
    if reviewed:        # the same reaches either way: alice sure enough alone, bob plausible
        [alice, bob] = out.reviews[0].candidates
        assert (alice.session_id, bob.session_id) == ('session-alice', 'session-bob')
        assert alice.probability >= 0.9 and bob.probability >= 0.05


@pytest.mark.parametrize('lifted_s, taker', [(10.9, 'alice'), (None, 'bob')])
def test_the_hand_in_the_slot_when_the_units_left_is_the_takers(config, lifted_s, taker):
    # Seattle's peanut butter: the taker's hand is in the slot, 0.22 m from its front, the
    # whole reach; a camera gives the neighbour a hand nearer the slot for a moment, 0.4 s
    # before the jar left. Only when the load cells saw that moment can it tell them apart.
    store = two_at_the_shelf(config, hands=lambda t, name:
                             (2.25, 5.0, 1.12) if name == 'alice' and 10.6 <= t <= 11.2 else
                             (2.3, 5.0, 0.95) if name == 'bob' and 10.45 <= t <= 10.55 else None)
    store.fusion.on_shelf_activity(ShelfActivity(
        'e1', 'shelf_a', ('a_11',), EventKind.PICK, 10.5, 11.3, -1040.0,
        (ItemCandidate('GB-MILK-1L', 1, 0.98),), lifted_s))
    assert store.cart(taker) == {'GB-MILK-1L': 1}


@pytest.mark.parametrize('parts_of_one_change, second_taker', [(True, 'bob'), (False, 'alice')])
def test_the_second_lift_of_a_plate_that_never_rested_goes_to_the_other_hand_at_it(
        config, parts_of_one_change, second_taker):
    # London_crowded's b_12: one shopper lifted 2 packs, the other 3 half a second later,
    # the plate never resting. jwo_shelves splits the change at its lifts into parts, each
    # starting where the one before settled. Alice's hand is at a_11 throughout; bob's
    # reaches it for the second lift, a hand's width off (a camera blends their arms).
    store = two_at_the_shelf(config, hands=lambda t, name:
                             A11_HAND if name == 'alice' and 10.0 <= t <= 11.4 else
                             (2.35, 5.1, 0.9) if name == 'bob' and 10.8 <= t <= 11.4 else None)

    def part(event_id, started_s, settled_s, quantity):
        return store.fusion.on_shelf_activity(ShelfActivity(
            event_id, 'shelf_a', ('a_11',), EventKind.PICK, started_s, settled_s,
            -1040.0 * quantity, (ItemCandidate('GB-MILK-1L', quantity, 0.98),)))
    part('e1', 10.0, 10.6, 2)
    part('e2', 10.6 if parts_of_one_change else 10.65, 11.3, 3)
    assert store.cart('alice')['GB-MILK-1L'] == (2 if second_taker == 'bob' else 5)
    assert store.cart(second_taker)['GB-MILK-1L'] == (3 if second_taker == 'bob' else 5)


def test_staff_split_a_merged_weight_change_between_the_shoppers_who_made_it(config):
    store = two_at_the_shelf(config, hands=lambda t, name:
                             A11_HAND if name == 'alice' and 10.6 <= t <= 11.4 else
                             (2.6, 5.1, 0.9) if name == 'bob' and 11.3 <= t <= 11.6 else None)
    [request] = store.shelf('e1', 'a_11', quantity=3, started_s=store.t_s - 1.6).reviews

    def decide(*shares, session_id=''):
        return store.fusion.on_decision(ReviewDecisionData(
            request.request_id, 'staff', False, session_id, (), tuple(
                ReviewShare(f'session-{name}', (ItemCandidate('GB-MILK-1L', quantity, 1.0),))
                for name, quantity in shares)))
    assert 'unknown session' in decide(('alice', 2), ('carol', 1)).refused
    assert 'both shares and a session' in decide(('alice', 2), session_id='session-bob').refused
    decided = decide(('alice', 2), ('bob', 1))
    assert {cart.session_id: cart.pending_review for cart in decided.carts} == \
        {'session-alice': False, 'session-bob': False}
    assert (store.cart('alice'), store.cart('bob')) == ({'GB-MILK-1L': 2}, {'GB-MILK-1L': 1})
    # Corrected: it was all alice's after all; bob's share goes.
    decide(('alice', 3))
    assert (store.cart('alice'), store.cart('bob')) == ({'GB-MILK-1L': 3}, {})
    record = store.fusion.record()
    assert decode(encode(record)) == record


def test_an_identity_review_is_not_shared(config):
    store = Store(config)
    store.scan('alice')
    store.fusion.reviews.add(ReviewRequestData(
        'review-identity-x', ReviewReason.IDENTITY, 0.5, None, (), 'two at the gate', 0.0, '1'))
    refused = store.fusion.on_decision(ReviewDecisionData(
        'review-identity-x', 'staff', False, '', (),
        (ReviewShare('session-alice', ()),)))
    assert 'only a shelf event is shared' in refused.refused


def test_a_party_whose_last_member_is_lost_after_the_others_left_is_sent_out(config):
    # london_tricky: a party of three; two left through the exit, the cameras then lost the
    # third: the session was marked closed but its EXIT never sent, so it was never charged.
    store = Store(config)
    store.scan('family', party_size=2)
    parent = (0.0, 19.0, path((0, *ENTRY_XY), (1, *ENTRY_XY), (5, *AT_A11), (8, *AT_A11),
                              (18, *EXIT_XY)))
    child = (1.0, 25.0, path((1, *ENTRY_XY), (2, *ENTRY_XY), (6, 6.0, 4.0)))
    store.run(8.0, {'parent': parent, 'child': child})
    store.shelf('e1', 'a_11')
    store.run(22.0, {'parent': parent, 'child': child})
    assert store.all('exits') == []                 # the child is still inside
    store.run(40.0, {'parent': parent, 'child': child})
    [exit_event] = store.all('exits')
    assert (exit_event.session_id, exit_event.gate_id) == ('session-family', 'exit_1')
    assert store.cart('family') == {'GB-MILK-1L': 1}
