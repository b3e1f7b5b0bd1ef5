#!/usr/bin/env python3
"""Evaluates jwo_fusion on simulator scenarios: tracking MOTA/IDF1 (py-motmetrics), identity
accuracy, attribution accuracy (one shopper at the shelf vs several), carts, exits and the
share of sessions sent to human review.

    .venv/bin/python scripts/eval_fusion.py                      # 20 shoppers, 10 seeds
    .venv/bin/python scripts/eval_fusion.py --shoppers 10 --seeds 1 --difficulty medium

Scenarios and shopper motion come from jwo_sim (`generate_scenario`, `plan_shoppers`).
Input: detections are SYNTHESISED from the ground-truth trajectories
(jwo_fusion.synthetic_detections: noise, misses, merged blobs in crowds, false positives,
missed reaches) and shelf events from the true picks/puts (a share of them with uncertain
product identification), so any crowd can be scored fast. The output says so. For fusion on
the real detector's output on rendered bags, see `scripts/replay_cores.py`.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import motmetrics
import numpy as np

from jwo_common.frames import shelf_to_map
from jwo_common.store_config import load_store_config
from jwo_fusion.attribution import EventKind, ItemCandidate, ShelfActivity
from jwo_fusion.fusion import StoreFusion
from jwo_fusion.identity import EntryScan
from jwo_fusion.review import ReviewReason
from jwo_fusion.synthetic_detections import CameraView, DetectionNoise, synthesise_frame
from jwo_fusion.tracker import LIVE_STATES, TrackState
from jwo_sim.scenario import generate_scenario
from jwo_sim.shoppers import plan_shoppers

ROOT = Path(__file__).resolve().parents[1]
EVAL_RATE_HZ = 10.0
MATCH_DISTANCE_M = 0.5
SETTLE_S = 0.7             # from the hand leaving the plate to the shelf event
SHELF_LATENCY_S = 0.3      # from settling to fusion receiving the event
UNSURE_ITEM_SHARE = 0.1    # shelf events whose product identification is uncertain
CROWD_RADIUS_M = 1.5       # another session's shopper this close to the slot = "several"


@dataclass
class Person:
    key: str                  # '<account>/<member>'
    account: str
    plan: object
    member: int
    start_s: float
    end_s: float              # reaches an exit zone
    leave_s: float            # out of the store


def exit_time(config, plan, member: int) -> float:
    """When the member first stands in an exit zone (where the stack ends its track)."""
    t_s = np.arange(plan.present_s(member)[0], plan.exit_s + 1.0, 0.02)
    x, y = plan.position(t_s, member)
    for i in range(len(t_s)):
        if any(g.zone.contains(x[i], y[i]) for g in config.gates_of_kind('exit')):
            return float(t_s[i])
    return plan.exit_s


def run_scenario(config, seed: int, n_shoppers: int, duration_s: float, difficulty: str,
                 noise: DetectionNoise, show_misses: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    scenario = generate_scenario(config, seed, n_shoppers, duration_s, difficulty)
    plans = plan_shoppers(config, scenario.shoppers, until_s=duration_s)
    people = [Person(f'{s.account_token}/{m}', s.account_token, plan, m,
                     plan.present_s(m)[0], exit_time(config, plan, m), plan.present_s(m)[1])
              for s, plan in zip(scenario.shoppers, plans) for m in range(s.party_size)]
    person_index = {p.key: i for i, p in enumerate(people)}
    session_of = {s.account_token: f'entry-{s.account_token}' for s in scenario.shoppers}
    slots = {slot.id: (shelf, slot) for shelf in config.shelves for slot in shelf.slots}

    def hand_target(slot_id: str) -> tuple[float, float, float]:
        shelf, slot = slots[slot_id]
        return tuple(float(v) for v in (shelf_to_map(shelf) @ np.array(
            [slot.x_m, 0.1, slot.z_m, 1.0]))[:3])

    # Every input, in the order the stack would receive it: (time, order, kind, payload).
    inputs = []
    entry_gate = config.gates_of_kind('entry')[0].id
    for shopper, plan in zip(scenario.shoppers, plans):
        inputs.append((plan.arrival_s, 0, 'entry', EntryScan(
            f'entry-{shopper.account_token}', session_of[shopper.account_token], entry_gate,
            shopper.account_token, shopper.party_size, plan.arrival_s)))
    true_events = {}
    for shopper, plan in zip(scenario.shoppers, plans):
        for reach in plan.reaches:
            visit = shopper.visits[reach.visit_index]
            shelf, slot = slots[reach.slot_id]
            sku = visit.sku or slot.product
            kind = EventKind.PICK if visit.kind == 'pick' else EventKind.PUT
            event_id = f'{shopper.account_token}-{reach.visit_index}'
            if rng.random() < UNSURE_ITEM_SHARE:
                candidates = (ItemCandidate(sku, visit.quantity, 0.7),
                              ItemCandidate(sku, visit.quantity + 1, 0.25))
            else:
                candidates = (ItemCandidate(sku, visit.quantity, 0.98),)
            grams = config.product(sku).unit_weight_g * visit.quantity
            # When the units moved (the load cells see it: jwo_shelves lifts).
            activity = ShelfActivity(event_id, shelf.id, (slot.id,), kind,
                                     reach.t_press_start_s, reach.t_press_end_s + SETTLE_S,
                                     -grams if kind == EventKind.PICK else grams, candidates,
                                     reach.t_change_s)
            true_events[event_id] = (activity, shopper.account_token, reach)
            inputs.append((activity.settled_s + SHELF_LATENCY_S, 1, 'shelf', activity))
    views = [CameraView(c) for c in config.cameras if c.depth and c.intrinsics is not None]
    end_s = max(p.end_s for p in people) + 3.0
    for view in views:
        period = 1.0 / view.camera.fps
        for t_s in np.arange(rng.uniform(0, period), end_s, period):
            inputs.append((float(t_s), 2, 'frame', view))
    for t_s in np.arange(0.0, end_s, 1.0 / EVAL_RATE_HZ):
        inputs.append((float(t_s), 3, 'tick', None))
    heapq.heapify(inputs := [(t, order, i, kind, payload)
                             for i, (t, order, kind, payload) in enumerate(inputs)])

    fusion = StoreFusion(config)
    accumulator = motmetrics.MOTAccumulator(auto_id=True)
    reviewed_sessions: set[str] = set()
    exits = {}
    alerts = []
    given_to: dict[str, str] = {}
    tracks_then: dict[str, str] = {}   # event id -> the live tracks when it came
    reach_of = {}   # leader key -> list of reaches
    for shopper, plan in zip(scenario.shoppers, plans):
        reach_of[f'{shopper.account_token}/0'] = plan.reaches

    def present(t_s: float) -> list[Person]:
        """Who should be tracked: from the entry until they step into an exit zone."""
        return [p for p in people if p.start_s <= t_s < p.end_s]

    def in_store(t_s: float) -> list[Person]:
        """Who the cameras see: until they reach the exit gate's centre and leave."""
        return [p for p in people if p.start_s <= t_s <= p.leave_s]

    def collect(outputs) -> None:
        for cart in outputs.carts:
            if cart.pending_review:
                reviewed_sessions.add(cart.session_id)
        for review in outputs.reviews:
            if review.reason == ReviewReason.IDENTITY:
                reviewed_sessions.update(c.session_id for c in review.candidates)
        for exit_event in outputs.exits:
            exits[exit_event.session_id] = exit_event
        alerts.extend(outputs.alerts)

    while inputs:
        t_s, _, _, kind, payload = heapq.heappop(inputs)
        if kind == 'entry':
            collect(fusion.on_entry(payload))
        elif kind == 'shelf':
            collect(fusion.on_shelf_activity(payload))
            sessions = fusion.carts.sessions_with(payload.event_id)
            given_to[payload.event_id] = sessions[0] if sessions else ''
            tracks_then[payload.event_id] = ', '.join(
                f'{t.track_id} {fusion.identity.session_of_track.get(t.track_id) or "stray"} '
                f'{t.state.name.lower()} at ({t.position[0]:.2f}, {t.position[1]:.2f})'
                for t in fusion.tracker.tracks if t.state in LIVE_STATES)
        elif kind == 'frame':
            here = in_store(t_s)
            xy = np.array([p.plan.position(np.array([t_s]), p.member) for p in here]
                          ).reshape(-1, 2)
            hands = []
            for p in here:
                hand = None
                for reach in reach_of.get(p.key, ()):
                    if reach.t_press_start_s - 0.15 <= t_s <= reach.t_press_end_s + 0.1:
                        hand = hand_target(reach.slot_id)
                hands.append(hand)
            collect(fusion.on_detections(t_s, synthesise_frame(view=payload, people_xy=xy,
                                                                reach_points=hands, rng=rng,
                                                                noise=noise)))
        else:
            collect(fusion.advance(t_s))
            here = present(t_s)
            truth = np.array([p.plan.position(np.array([t_s]), p.member) for p in here]
                             ).reshape(-1, 2)
            shoppers = [s for s in fusion.shoppers(t_s)
                        if s.estimate.state in (TrackState.CONFIRMED, TrackState.OCCLUDED)]
            estimates = np.array([[s.estimate.x, s.estimate.y] for s in shoppers]).reshape(-1, 2)
            distances = motmetrics.distances.norm2squared_matrix(
                truth, estimates, max_d2=MATCH_DISTANCE_M ** 2)
            # motmetrics wants numeric ids: people by index, tracks by their (numeric) id.
            accumulator.update([person_index[p.key] for p in here],
                               [int(s.estimate.track_id) for s in shoppers], distances)
    metrics = motmetrics.metrics.create().compute(
        accumulator, metrics=['mota', 'idf1', 'num_switches', 'num_false_positives',
                              'num_misses', 'num_objects'], name=str(seed))
    matches = accumulator.mot_events
    matched = matches[matches['Type'].isin(['MATCH', 'SWITCH'])]
    identity_frames = identity_right = 0
    account_of_track = {int(track_id): fusion.identity.sessions[session].account_token
                        for track_id, session in fusion.identity.session_of_track.items()}
    for oid, hid in zip(matched['OId'], matched['HId']):
        identity_frames += 1
        identity_right += account_of_track.get(int(hid)) == people[int(oid)].account

    single = [0, 0]
    several = [0, 0]
    for event_id, (activity, account, reach) in true_events.items():
        others = sum(1 for p in present(reach.t_change_s) if p.account != account and np.hypot(
            *(np.array(p.plan.position(np.array([reach.t_change_s]), p.member)).ravel()
              - np.array([reach.x_m, reach.y_m]))) < CROWD_RADIUS_M)
        bucket = several if others else single
        bucket[0] += 1
        bucket[1] += given_to.get(event_id) == session_of[account]
        if show_misses and not others and given_to.get(event_id) != session_of[account]:
            print(f'  seed {seed}: {activity.kind.name.lower()} {event_id} by {account} at '
                  f'{reach.t_change_s:.1f} s from ({reach.x_m:.2f}, {reach.y_m:.2f}) given to '
                  f'{given_to.get(event_id) or "nobody"}; live tracks: {tracks_then[event_id]}')
    sessions = list(session_of.values())
    carts_right = 0
    truth_carts = defaultdict(lambda: defaultdict(int))
    for activity, account, _ in true_events.values():
        sign = 1 if activity.kind == EventKind.PICK else -1
        truth_carts[account][activity.candidates[0].sku] += sign * activity.candidates[0].quantity
    for account, session_id in session_of.items():
        cart = {line.sku: line.quantity for line in fusion.cart(session_id).lines}
        carts_right += cart == {sku: n for sku, n in truth_carts[account].items() if n > 0}
    row = metrics.iloc[0]
    return dict(
        seed=seed, shoppers=len(scenario.shoppers), people=len(people),
        peak=max(len(present(t)) for t in np.arange(0, end_s, 1.0)),
        mota=float(row['mota']), idf1=float(row['idf1']), switches=int(row['num_switches']),
        false_positives=int(row['num_false_positives']), misses=int(row['num_misses']),
        objects=int(row['num_objects']),
        identity=identity_right / max(1, identity_frames),
        single=single, several=several,
        exits=sum(1 for s in sessions if s in exits), sessions=len(sessions),
        reviewed=len(reviewed_sessions & set(sessions)), carts_right=carts_right,
        alerts=len(alerts))


def full_coverage_layout(config, mount_z_m: float = 4.5, columns: int = 3, rows: int = 3):
    """The store with its overhead depth cameras replaced by a grid (same camera model)
    that sees the whole floor, both gates included, at head height."""
    model = next(c for c in config.cameras if c.depth)
    floor = config.floor
    cameras = [c for c in config.cameras if not c.depth]
    for row in range(rows):
        for column in range(columns):
            x = floor.min_x + (column + 0.5) * (floor.max_x - floor.min_x) / columns
            y = floor.min_y + (row + 0.5) * (floor.max_y - floor.min_y) / rows
            cameras.append(model.model_copy(update=dict(
                id=f'grid_{row}{column}', mount=model.mount.model_copy(
                    update=dict(x=x, y=y, z=mount_z_m)))))
    return config.model_copy(update=dict(cameras=cameras))


def head_height_coverage(config, noise: DetectionNoise) -> tuple[float, list[float]]:
    """Share of the floor, and of each gate zone, that some depth camera sees at head height."""
    floor = config.floor
    xs, ys = np.meshgrid(np.arange(floor.min_x, floor.max_x, 0.05),
                         np.arange(floor.min_y, floor.max_y, 0.05))
    points = np.column_stack([xs.ravel(), ys.ravel(), np.full(xs.size, noise.head_height_m)])
    seen = np.zeros(len(points), dtype=bool)
    for camera in config.cameras:
        if camera.depth and camera.intrinsics is not None:
            seen |= CameraView(camera).sees(points)
    gates = [float(seen[np.array([g.zone.contains(x, y) for x, y in points[:, :2]])].mean())
             for g in config.gates]
    return float(seen.mean()), gates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', default=str(ROOT / 'config/london/store.yaml'))
    parser.add_argument('--shoppers', type=int, default=20)
    parser.add_argument('--duration', type=float, default=150.0, help='scenario seconds')
    parser.add_argument('--difficulty', default='easy', choices=['easy', 'medium', 'hard'],
                        help='medium and hard: jwo_sim shoppers overlap (no avoidance)')
    parser.add_argument('--seeds', type=int, nargs='+', default=list(range(1, 11)))
    parser.add_argument('--layout', default='full', choices=['full', 'config'],
                        help="cameras: 'config' as the store config has them, 'full' a 3x3 grid "
                        'at 4.5 m of the same model that sees the whole floor at head height')
    parser.add_argument('--misses', action='store_true',
                        help='print each event with one shopper at the shelf given to '
                        'someone else, with the tracks there were then')
    args = parser.parse_args(argv)
    config = load_store_config(args.store)
    noise = DetectionNoise()
    floor_seen, gates_seen = head_height_coverage(config, noise)
    print(f'configured depth cameras see {floor_seen:.0%} of the floor at head height '
          f'({noise.head_height_m} m) and ' + ', '.join(
              f'{g.id} {share:.0%}' for g, share in zip(config.gates, gates_seen)))
    if args.layout == 'full':
        config = full_coverage_layout(config)
        floor_seen, gates_seen = head_height_coverage(config, noise)
        print(f'layout: the depth cameras REPLACED by a 3x3 grid at 4.5 m: {floor_seen:.0%} of '
              'the floor at head height, ' + ', '.join(
                  f'{g.id} {share:.0%}' for g, share in zip(config.gates, gates_seen)))
    else:
        print('layout: the cameras of the store config')
    print('input: detections SYNTHESISED from ground-truth trajectories '
          f'(position noise {noise.position_stddev_m} m, miss {noise.miss_probability:.0%}, '
          f'{noise.crowd_miss_probability:.0%} when within {noise.crowd_radius_m} m of another '
          f'person, {noise.false_positives_per_frame} false positives per frame, reach missed '
          f'{noise.reach_miss_probability:.0%}); shelf events from the true picks/puts, '
          f'{UNSURE_ITEM_SHARE:.0%} with an uncertain product (the real detector on rendered '
          'bags: scripts/replay_cores.py)')
    print(f'scenarios: jwo_sim generate_scenario(store {config.store.id}, {args.shoppers} '
          f'shoppers, {args.duration:.0f} s, {args.difficulty}), seeds {args.seeds}')
    results = [run_scenario(config, seed, args.shoppers, args.duration, args.difficulty, noise,
                            args.misses) for seed in args.seeds]
    header = (f'{"seed":>4} {"shoppers":>8} {"people":>6} {"peak":>4} {"MOTA":>6} {"IDF1":>6} '
              f'{"IDsw":>4} {"FP":>4} {"FN":>5} {"identity":>8} {"attr 1":>10} '
              f'{"attr >1":>10} {"exits":>7} {"carts ok":>8} {"review":>7} {"alerts":>6}')
    print(header)
    for r in results:
        print(f'{r["seed"]:>4} {r["shoppers"]:>8} {r["people"]:>6} {r["peak"]:>4} '
              f'{r["mota"]:>6.3f} {r["idf1"]:>6.3f} {r["switches"]:>4} '
              f'{r["false_positives"]:>4} {r["misses"]:>5} {r["identity"]:>8.3f} '
              f'{r["single"][1]:>4}/{r["single"][0]:<5} {r["several"][1]:>4}/{r["several"][0]:<5} '
              f'{r["exits"]:>3}/{r["sessions"]:<3} {r["carts_right"]:>3}/{r["sessions"]:<4} '
              f'{r["reviewed"] / r["sessions"]:>7.0%} {r["alerts"]:>6}')

    def share(key: str) -> str:
        right = sum(r[key][1] for r in results)
        total = sum(r[key][0] for r in results)
        return f'{right / max(1, total):.2%} ({right}/{total})'

    sessions = sum(r['sessions'] for r in results)
    print(f'tracking: MOTA {np.mean([r["mota"] for r in results]):.3f}, '
          f'IDF1 {np.mean([r["idf1"] for r in results]):.3f} (target >= 0.95), '
          f'{sum(r["switches"] for r in results)} identity switches')
    print(f'identity accuracy (matched frames with the right account): '
          f'{np.mean([r["identity"] for r in results]):.2%}')
    print(f'attribution accuracy, one shopper at the shelf: {share("single")} (target >= 99%)')
    print(f'attribution accuracy, several shoppers at the shelf: {share("several")}')
    print(f'sessions closed by an exit seen on the cameras: '
          f'{sum(r["exits"] for r in results)}/{sessions}')
    print(f'carts exactly right before any review: {sum(r["carts_right"] for r in results)}/'
          f'{sessions}')
    print(f'sessions sent to review: {sum(r["reviewed"] for r in results) / sessions:.1%}; '
          f'loss-prevention/security alerts: {sum(r["alerts"] for r in results)} '
          '(every event here has a true shopper, so each alert is a false one)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
