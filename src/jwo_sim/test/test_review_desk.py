from jwo_fusion.review import ReviewReason
from jwo_sim.review_desk import Answer, Question, ReviewDesk, TrackPoint

SESSIONS = {'acct_a': 'entry_1-100', 'acct_b': 'entry_1-200'}


def event(account, slot_id, sku, quantity, start_s, settled_s, kind='pick'):
    return {'account_token': account, 'slot_id': slot_id, 'sku': sku, 'quantity': quantity,
            'kind': kind, 't_start_s': start_s, 't_settled_s': settled_s}


def line(x0, y0, x1, y1, start_s=0.0, end_s=10.0, step_s=0.1):
    times = [round(start_s + i * step_s, 3) for i in range(int((end_s - start_s) / step_s) + 1)]
    fraction = [(t - start_s) / (end_s - start_s) for t in times]
    return {'t_s': times, 'x_m': [x0 + f * (x1 - x0) for f in fraction],
            'y_m': [y0 + f * (y1 - y0) for f in fraction]}


def desk(events, trajectories=None) -> ReviewDesk:
    return ReviewDesk({'events': events, 'trajectories': trajectories or {}}, SESSIONS)


def test_a_merged_change_is_shared_between_the_shoppers_whose_reaches_made_it():
    events = [event('acct_a', 'b_22', 'GB-WATER-750', 1, 33.0, 33.5),
              event('acct_b', 'b_22', 'GB-WATER-750', 3, 33.55, 34.4),
              event('acct_a', 'b_21', 'GB-TEA-80', 1, 33.2, 33.9),      # the next plate
              event('acct_b', 'b_22', 'GB-WATER-750', 1, 50.0, 50.6)]   # much later
    question = Question('review-e1', ReviewReason.ATTRIBUTION, 34.4, ('b_22',),
                        started_s=33.0, settled_s=34.4)
    assert desk(events).answer(question) == Answer('review-e1', False, (
        ('entry_1-100', (('GB-WATER-750', 1),)), ('entry_1-200', (('GB-WATER-750', 3),))))


def test_each_part_of_a_change_split_at_its_lifts_is_answered_with_its_own_lift():
    # London_crowded's b_12: a lifts 2 at 15.5 s, b 3 at 16.03 s, the plate never resting;
    # the parts meet halfway between the lifts.
    events = [event('acct_a', 'b_12', 'GB-CHOC-110', 2, 15.15, 15.85),
              event('acct_b', 'b_12', 'GB-CHOC-110', 3, 15.6, 16.45)]
    first = Question('review-e1', ReviewReason.ATTRIBUTION, 15.77, ('b_12',),
                     started_s=15.18, settled_s=15.77)
    second = Question('review-e2', ReviewReason.ATTRIBUTION, 16.43, ('b_12',),
                      started_s=15.77, settled_s=16.43)
    assert desk(events).answer(first) == Answer(
        'review-e1', False, (('entry_1-100', (('GB-CHOC-110', 2),)),))
    assert desk(events).answer(second) == Answer(
        'review-e2', False, (('entry_1-200', (('GB-CHOC-110', 3),)),))


def test_a_put_back_is_answered_in_items_returned_and_a_reach_and_its_undo_nets_out():
    events = [event('acct_a', 'a_11', 'GB-MILK-1L', 2, 10.0, 10.6, kind='put'),
              event('acct_b', 'a_11', 'GB-MILK-1L', 1, 10.2, 10.7),
              event('acct_b', 'a_11', 'GB-MILK-1L', 1, 10.8, 11.3, kind='put')]
    question = Question('review-e2', ReviewReason.ITEM, 11.3, ('a_11',), taken=False,
                        started_s=10.0, settled_s=11.3)
    assert desk(events).answer(question) == Answer(
        'review-e2', False, (('entry_1-100', (('GB-MILK-1L', 2),)),))


def test_a_change_nobody_made_is_dismissed():
    events = [event('acct_a', 'a_11', 'GB-MILK-1L', 1, 3.0, 3.6)]
    question = Question('review-e3', ReviewReason.ANOMALY, 20.6, ('a_11',),
                        started_s=20.0, settled_s=20.6)
    assert desk(events).answer(question) == Answer('review-e3', True)


def test_an_outage_question_is_about_its_one_shopper_from_when_the_cells_failed():
    events = [event('acct_a', 'c_11', 'GB-CHOC-110', 1, 4.0, 4.5),       # before it failed
              event('acct_a', 'c_11', 'GB-CHOC-110', 2, 12.0, 12.5),
              event('acct_b', 'c_11', 'GB-CHOC-110', 1, 13.0, 13.5)]     # another's question
    question = Question('review-o@entry_1-100', ReviewReason.SENSOR, 14.0, ('c_11',),
                        started_s=10.0, settled_s=14.0, session_ids=('entry_1-100',))
    assert desk(events).answer(question) == Answer(
        'review-o@entry_1-100', False, (('entry_1-100', (('GB-CHOC-110', 2),)),))


def test_an_identity_question_gets_the_session_of_the_person_the_track_followed():
    trajectories = {'acct_a/0': line(0.0, 0.0, 5.0, 0.0), 'acct_b/0': line(0.0, 1.0, 5.0, 1.0),
                    'acct_b/1': line(0.0, 3.0, 5.0, 3.0)}       # acct_b's guest
    track = [TrackPoint(t, 0.5 * t, 2.9) for t in (4.0, 4.5, 5.0, 5.5, 6.0)]
    question = Question('review-identity-entry_1-100-7', ReviewReason.IDENTITY, 5.0,
                        session_ids=('entry_1-100',), track_id='7')
    assert desk([], trajectories).answer(question, track) == Answer(
        'review-identity-entry_1-100-7', False, session_id='entry_1-200')
    assert desk([], trajectories).answer(question, []) is None


def test_a_lost_shoppers_cart_is_confirmed_as_it_is():
    question = Question('review-lost-entry_1-100', ReviewReason.LOST, 30.0,
                        session_ids=('entry_1-100',))
    assert desk([]).answer(question) == Answer('review-lost-entry_1-100', True)
