#!/usr/bin/env python3
"""Runs the stack's ROS-free cores on a simulator bag in one process, without DDS: the
overhead detector on every depth frame, the shelf monitor on every load-cell batch, the
entry scanner on the gate's scans, then fusion on all of it in sensor-time order, or as
late as the stack delivers it (`--frames-late-s`, `--scans-late-s`). The same code as the
nodes, deterministic and repeatable, so fusion's settings can be compared on the
detector's real output (what a soak's stack saw, less its injected faults) rather than on
the synthesised detections `eval_fusion.py` uses.

    .venv/bin/python scripts/replay_cores.py --bag out/soak/bag --minutes 20
    .venv/bin/python scripts/replay_cores.py --bag out/soak/bag --scans-late-s 2.7
    .venv/bin/python scripts/replay_cores.py --bag out/soak/bag --crash-at 2880
    .venv/bin/python scripts/replay_cores.py --bag out/soak/bag --stuck shelf_b:1620:1728
    .venv/bin/python scripts/replay_cores.py --bag out/soak/bag \
        --live-inputs out/soak/fusion_inputs --crash-at 2880

Detection takes most of the time; the cameras' outputs are kept in `--cache` (one file per
bag and time span) for the next run. The shelves' are worked out on every run, with the
shelf node's health watch: dead or stuck cells (`--stuck`, frozen as the soak freezes them)
give the OUTAGE and RESTORED events the node would.

Prints, per shopper whose cart fusion got wrong, the cart they left with beside the true
one, the tracks that entered without a scan or were lost, and the score (receipts as
billing would charge the carts at exit; held = the session's cart waited for a review).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from rosbags.highlevel import AnyReader

from jwo_billing.receipt import CartLine, build_receipt
from jwo_cameras import detection, entry_gate
from jwo_cameras.camera_model import camera_model
from jwo_cameras.camera_node import image_topic
from jwo_cameras.detection import OverheadDetector, floor_area, shelf_boxes
from jwo_cameras.entry_gate import Entry, EntryScanner, QrReader, StillScene
from jwo_cameras.image_codec import decode
from jwo_common.frames import optical_to_map
from jwo_common.store_config import load_store_config
from jwo_fusion import journal
from jwo_fusion import messages as fusion_messages
from jwo_fusion.attribution import ShelfActivity
from jwo_fusion.fusion import FusionSettings, StoreFusion
from jwo_fusion.identity import EntryScan
from jwo_fusion.tracker import Detection, TrackState
from jwo_shelves.health import HealthSettings, StreamHealth
from jwo_shelves.identification import IdentificationSettings
from jwo_shelves.messages import readings_grams, shelf_event, to_ns
from jwo_shelves.outages import OutageWatch
from jwo_shelves.planogram import ShelfPlanogram
from jwo_shelves.shelf_monitor import ShelfMonitor
from jwo_shelves.weight_events import DetectorSettings
from jwo_sim.scenario import load_scenario
from jwo_sim.scoring import SALE, ChargedReceipt, TrackSample, score_store

REPO = Path(__file__).resolve().parents[1]
ADVANCE_PERIOD_S = 0.1      # the fusion node's publish timer: ages tracks, samples them
# The shelf node publishes an event when the batch that settles it arrives: one batch.
SHELF_BATCH_S = 0.1
SHELF_DIAGNOSTICS_PERIOD_S = 1.0    # the shelf node's health check (and OUTAGE events)


@dataclass(frozen=True)
class SensorOutputs:
    """What the sensor nodes would have published, in sensor time (unix seconds)."""
    frames: list[tuple[float, str, tuple[Detection, ...]]]      # (stamp, camera, people)
    activities: list[tuple[float, ShelfActivity]]                # (published at, event)
    camera_scans: list[EntryScan]        # app codes the gate read on its scanner camera
    topic_scans: list[EntryScan]         # the simulated dedicated scanner's


@dataclass
class Replay:
    fusion: StoreFusion
    exits: dict[str, float] = field(default_factory=dict)        # session -> left at
    reviewed: set[str] = field(default_factory=set)      # sessions whose cart waited for review
    unscanned: list[str] = field(default_factory=list)           # alert texts
    unexplained: list[str] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)                  # bound tracks ever lost
    tracks: list[TrackSample] = field(default_factory=list)
    restarts: int = 0                                            # of fusion, from its journal


def store_of(bag: Path):
    scenario = load_scenario(bag / 'scenario.yaml')
    path = Path(scenario.store_config)
    return load_store_config(path if path.is_absolute() else REPO / path)


def span_ns(start_unix_s: float, minutes: float | None) -> tuple[int, int | None]:
    start_ns = round(start_unix_s * 1e9)
    return start_ns, None if minutes is None else start_ns + round(minutes * 60e9)


def detect_camera(bag: Path, camera_id: str, minutes: float | None
                  ) -> list[tuple[float, str, tuple[Detection, ...]]]:
    config = store_of(bag)
    camera = next(c for c in config.cameras if c.id == camera_id)
    # The simulated camera's depth noise, as its calibration would have measured it.
    noise = load_scenario(bag / 'scenario.yaml').faults.depth_noise_mm_at_1m
    detector = OverheadDetector(camera_model(config, camera), optical_to_map(camera),
                                shelf_boxes(config), floor_area(config),
                                detection.DetectorSettings(depth_noise_mm_at_1m=noise))
    truth = json.loads((bag / 'ground_truth.json').read_text())
    _, stop_ns = span_ns(truth['start_unix_s'], minutes)
    frames = []
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections
                       if c.topic == image_topic(camera_id, 'depth')]
        for connection, _, raw in reader.messages(connections=connections, stop=stop_ns):
            msg = reader.deserialize(raw, connection.msgtype)
            people = detector.detect(decode(msg))
            frames.append((fusion_messages.to_seconds(msg.header.stamp), camera_id, tuple(
                Detection(p.x_m, p.y_m, p.position_stddev_m, p.confidence, p.reach_point)
                for p in people)))
    return frames


@dataclass(frozen=True)
class StuckCells:
    """One shelf's load cells repeating their first readings from `from_s` to `to_s` (sim s
    from the bag's start), as the soak freezes them."""
    shelf_id: str
    from_s: float
    to_s: float


class ShelfNode:
    """The shelf events node's work on one shelf, with its defaults: weight events from
    each batch, and OUTAGE/RESTORED from its health check every second of sensor time."""

    def __init__(self, config, shelf_id: str, started_ns: int):
        planogram = ShelfPlanogram.from_config(config, shelf_id)
        self.monitor = ShelfMonitor(planogram, DetectorSettings(), IdentificationSettings())
        self.health = StreamHealth(planogram.slot_ids,
                                   config.shelf(shelf_id).load_cells.sample_rate_hz,
                                   HealthSettings(), started_ns=started_ns)
        self.outages = OutageWatch(shelf_id)
        self.next_check_ns = started_ns + round(SHELF_DIAGNOSTICS_PERIOD_S * 1e9)

    def on_batch(self, start_ns: int, rate_hz: float, slot_ids, grams):
        """The events published once this batch has arrived."""
        monitor = self.monitor
        ordered = monitor.to_plate_order(slot_ids, grams)
        count = ordered.shape[0]
        self.health.add(start_ns + np.round(np.arange(count) * 1e9 / rate_hz).astype(np.int64),
                        ordered)
        events = monitor.process(monitor.planogram.slot_ids, start_ns, rate_hz, ordered)
        end_ns = start_ns + round(count * 1e9 / rate_hz)
        while self.next_check_ns <= end_ns:
            events += self.outages.update(self.health.report(self.next_check_ns),
                                          self.next_check_ns)
            self.next_check_ns += round(SHELF_DIAGNOSTICS_PERIOD_S * 1e9)
        return events


def shelf_events(bag: Path, minutes: float | None, stuck: StuckCells | None = None
                 ) -> list[tuple[float, ShelfActivity]]:
    """The shelf events node: (when published, event)."""
    config = store_of(bag)
    truth = json.loads((bag / 'ground_truth.json').read_text())
    start_ns, stop_ns = span_ns(truth['start_unix_s'], minutes)
    shelves = {shelf.id: ShelfNode(config, shelf.id, start_ns) for shelf in config.shelves}
    frozen = None
    activities = []
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic.endswith('/load_cells')]
        for connection, _, raw in reader.messages(connections=connections, stop=stop_ns):
            msg = reader.deserialize(raw, connection.msgtype)
            shelf_id = connection.topic.split('/')[2]
            batch_start_ns = to_ns(msg.header.stamp)
            grams = readings_grams(msg)
            if stuck and shelf_id == stuck.shelf_id and \
                    stuck.from_s <= (batch_start_ns - start_ns) / 1e9 < stuck.to_s:
                frozen = grams[:1].copy() if frozen is None else frozen
                grams = np.repeat(frozen, grams.shape[0], axis=0)
            batch_end_s = batch_start_ns * 1e-9 + msg.sample_count / msg.sample_rate_hz
            for event in shelves[shelf_id].on_batch(batch_start_ns, msg.sample_rate_hz,
                                                    msg.slot_ids, grams):
                activities.append((batch_end_s, fusion_messages.shelf_activity(
                    shelf_event(event, shelf_id))))
    return activities


def entry_scans(bag: Path, minutes: float | None, from_camera: bool) -> list[EntryScan]:
    """The gate node: app codes read on its scanner camera, or (`from_camera` False) the
    dedicated scanner's decoded scans."""
    config = store_of(bag)
    gate = next(g for g in config.gates_of_kind('entry') if g.scanner_camera)
    truth = json.loads((bag / 'ground_truth.json').read_text())
    _, stop_ns = span_ns(truth['start_unix_s'], minutes)
    scanner, qr, still = EntryScanner(gate.id), QrReader(), StillScene()
    topic = image_topic(gate.scanner_camera, 'color') if from_camera else '/gates/entry_scans'
    scans = []
    with AnyReader([bag]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        for connection, _, raw in reader.messages(connections=connections, stop=stop_ns):
            msg = reader.deserialize(raw, connection.msgtype)
            if from_camera:
                image = decode(msg)
                gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
                # What the gate node reads: frames that show nothing new are skipped.
                thumbnail, stamp_ns = still.thumbnail(gray), to_ns(msg.header.stamp)
                if not still.worth_reading(stamp_ns, thumbnail):
                    continue
                payload, located = qr.read(gray)
                still.read(stamp_ns, thumbnail, located)
                party_size = 0
            else:
                payload, party_size = msg.account_token, max(msg.party_size, 1)
            decision = scanner.read(payload, to_ns(msg.header.stamp)) if payload else None
            if isinstance(decision, Entry):
                scans.append(EntryScan(decision.event_id, decision.event_id, gate.id,
                                       decision.account_token,
                                       party_size or decision.party_size,
                                       decision.stamp_ns * 1e-9))
    return scans


def sensor_outputs(bag: Path, minutes: float | None, cache: Path,
                   stuck: StuckCells | None = None) -> SensorOutputs:
    written_ns = max(f.stat().st_mtime_ns for f in bag.glob('*.mcap'))
    # A changed detector or scanner makes new outputs: their code is part of the key.
    code = hashlib.sha1(b''.join(Path(module.__file__).read_bytes()
                                 for module in (detection, entry_gate))).hexdigest()
    key = hashlib.sha1(f'{bag.resolve()}:{written_ns}:{minutes}:{code}'.encode()
                       ).hexdigest()[:12]
    cached = cache / f'{bag.name}-{key}.pickle'
    if cached.is_file():
        frames, camera_scans, topic_scans = pickle.loads(cached.read_bytes())
        return SensorOutputs(frames, shelf_events(bag, minutes, stuck), camera_scans,
                             topic_scans)
    config = store_of(bag)
    cameras = [c.id for c in config.cameras if c.depth]
    print(f'detecting in {len(cameras)} cameras (cached in {cached}) ...', flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        detected = pool.map(detect_camera, [bag] * len(cameras), cameras,
                            [minutes] * len(cameras))
        activities = pool.submit(shelf_events, bag, minutes, stuck)
        camera_scans = pool.submit(entry_scans, bag, minutes, True)
        topic_scans = pool.submit(entry_scans, bag, minutes, False)
        frames = sorted((frame for camera in detected for frame in camera),
                        key=lambda frame: frame[0])
    outputs = SensorOutputs(frames, activities.result(), camera_scans.result(),
                            topic_scans.result())
    cache.mkdir(parents=True, exist_ok=True)
    # Plain tuples, not the classes: this script runs as __main__ or imported.
    cached.write_bytes(pickle.dumps((outputs.frames, outputs.camera_scans,
                                     outputs.topic_scans)))
    return outputs


@dataclass(frozen=True)
class Lateness:
    """How late inputs reach fusion after their sensor time, at most (uniform, seeded): camera
    frames (each waits for its camera's detector) and the gate's scans (it decodes a queue of
    camera frames). Shelf events come when their batch does."""
    frames_s: float = 0.0
    scans_s: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Crash:
    """Fusion killed at `at_s` (sim s from the bag's start) and back `down_s` later from its
    journal (as of the kill; the node writes it every second and before every cart). Camera
    frames meanwhile are lost; shelf events and scans (latched topics) arrive at the restart."""
    at_s: float
    down_s: float = 3.0


def arrivals(outputs: SensorOutputs, scans: list[EntryScan], lateness: Lateness = Lateness()
             ) -> list[tuple]:
    """(arrival, order, index, kind, stamp, payload) of every input, as late as `lateness`
    says, in order of arrival."""
    rng = random.Random(lateness.seed)
    inputs = [(stamp + rng.uniform(0.0, lateness.frames_s), 0, index, 'frame', stamp, people)
              for index, (stamp, _, people) in enumerate(outputs.frames)]
    inputs += [(scan.stamp_s + rng.uniform(0.0, lateness.scans_s), 1, index, 'scan',
                scan.stamp_s, scan) for index, scan in enumerate(scans)]
    inputs += [(stamp, 2, index, 'shelf', stamp, activity)
               for index, (stamp, activity) in enumerate(outputs.activities)]
    return sorted(inputs, key=lambda entry: entry[:3])


def live_inputs(recording: Path) -> tuple[SensorOutputs, list[tuple]]:
    """What a soak's fusion was sent (`soak_store.py`'s fusion_inputs), with the arrivals in
    the order it came: receive times moved onto sensor time by the quickest detection's
    delay, so the arrival of the quickest is its stamp."""
    received = []               # (receive s, stamp s, kind, payload)
    with AnyReader([recording]) as reader:
        for connection, receive_ns, raw in reader.messages():
            msg = reader.deserialize(raw, connection.msgtype)
            stamp_s = fusion_messages.to_seconds(msg.header.stamp)
            if connection.topic == '/shelves/events':
                payload, kind = fusion_messages.shelf_activity(msg), 'shelf'
            elif connection.topic == '/gates/events':
                if msg.kind != msg.ENTRY:
                    continue        # exits are fusion's own
                payload, kind = fusion_messages.entry_scan(msg), 'scan'
            else:
                payload, kind = (msg.camera_id, tuple(fusion_messages.detections(msg))), 'frame'
            received.append((receive_ns / 1e9, stamp_s, kind, payload))
    received.sort(key=lambda entry: entry[0])
    delay_s = min(receive_s - stamp_s for receive_s, stamp_s, kind, _ in received
                  if kind == 'frame')
    outputs = SensorOutputs(
        frames=[(stamp_s, *payload) for _, stamp_s, kind, payload in received
                if kind == 'frame'],
        activities=[(receive_s - delay_s, payload) for receive_s, _, kind, payload in received
                    if kind == 'shelf'],
        camera_scans=[payload for *_, kind, payload in received if kind == 'scan'],
        topic_scans=[])
    inputs = [(receive_s - delay_s, 0, index, kind, stamp_s,
               payload[1] if kind == 'frame' else payload)
              for index, (receive_s, stamp_s, kind, payload) in enumerate(received)]
    return outputs, inputs


def replay(outputs: SensorOutputs, scans: list[EntryScan], fusion: StoreFusion,
           start_unix_s: float, lateness: Lateness = Lateness(),
           crash: Crash | None = None) -> Replay:
    """Feeds fusion in order of arrival, as its node would get it."""
    return replay_arrivals(arrivals(outputs, scans, lateness), fusion, start_unix_s, crash)


def replay_arrivals(inputs: list[tuple], fusion: StoreFusion, start_unix_s: float,
                    crash: Crash | None = None) -> Replay:
    """Feeds fusion `inputs` (see `arrivals`) in their order."""
    run = Replay(fusion)
    killed_s = None if crash is None else start_unix_s + crash.at_s
    waiting = []            # latched inputs that arrive while fusion is down
    next_advance_s = None
    for arrival_s, _, _, kind, stamp, payload in inputs:
        if killed_s is not None and arrival_s >= killed_s:
            if arrival_s < killed_s + crash.down_s:
                waiting += [(kind, stamp, payload)] if kind != 'frame' else []
                continue
            run.fusion, run.restarts = restarted(run.fusion), run.restarts + 1
            for late_kind, late_stamp, late_payload in waiting:
                next_advance_s = deliver(run, arrival_s, next_advance_s, late_kind, late_stamp,
                                         late_payload, start_unix_s)
            killed_s = None
        next_advance_s = deliver(run, arrival_s, next_advance_s, kind, stamp, payload,
                                 start_unix_s)
    return run


def restarted(fusion: StoreFusion) -> StoreFusion:
    """A new fusion from the old one's journal record, as the node restarts."""
    record = journal.decode(journal.encode(fusion.record()))
    fresh = StoreFusion(fusion.config, fusion.settings)
    fresh.restore(record)
    return fresh


def deliver(run: Replay, arrival_s: float, next_advance_s: float | None, kind: str,
            stamp: float, payload, start_unix_s: float) -> float:
    """One input to fusion, after advancing it to the input's arrival; the next advance."""
    fusion = run.fusion
    if next_advance_s is None:
        next_advance_s = arrival_s
    while next_advance_s <= arrival_s:
        take(run, fusion.advance(next_advance_s), start_unix_s)
        sample_tracks(run, start_unix_s)
        next_advance_s += ADVANCE_PERIOD_S
    if kind == 'frame':
        take(run, fusion.on_detections(stamp, payload), start_unix_s)
    elif kind == 'scan':
        take(run, fusion.on_entry(payload), start_unix_s)
    else:
        take(run, fusion.on_shelf_activity(payload), start_unix_s)
    return next_advance_s


def take(run: Replay, outputs, start_unix_s: float) -> None:
    for exit_data in outputs.exits:
        run.exits[exit_data.session_id] = exit_data.stamp_s
    run.reviewed.update(cart.session_id for cart in outputs.carts if cart.pending_review)
    for alert in outputs.alerts:
        text = f'{alert.stamp_s - start_unix_s:7.1f} s  {alert.description}'
        (run.unscanned if 'without an entry scan' in alert.description
         else run.unexplained).append(text)


def sample_tracks(run: Replay, start_unix_s: float) -> None:
    """What the node publishes on /shoppers/tracked, and which bound tracks were lost."""
    fusion = run.fusion
    bound = fusion.identity.session_of_track
    run.lost.update(t.track_id for t in fusion.tracker.tracks
                    if t.state == TrackState.LOST and t.track_id in bound)
    run.tracks += [TrackSample(fusion.now_s - start_unix_s, e.track_id, e.x, e.y)
                   for e in fusion.tracker.estimates(fusion.now_s)
                   if e.state in (TrackState.CONFIRMED, TrackState.OCCLUDED)]


def receipts(run: Replay, config) -> list[ChargedReceipt]:
    """The cart each session left with, as billing would charge it."""
    result = []
    for session_id in run.exits:
        cart = run.fusion.cart(session_id)
        units = {line.sku: line.quantity for line in cart.lines if line.quantity}
        held = session_id in run.reviewed
        total = build_receipt([CartLine(sku, n) for sku, n in sorted(units.items())],
                              config).total_minor if units else 0
        result.append(ChargedReceipt(session_id, cart.account_token, SALE, not held, held,
                                     units, total))
    return result


def print_events(run: Replay, outputs: SensorOutputs, truth: dict) -> None:
    """Each shelf event: whose cart it went to (! = not the true taker's) and who made it."""
    fusion, start_s = run.fusion, truth['start_unix_s']
    print('\nshelf events: given to (held = waits for review) / true')
    for _, activity in outputs.activities:
        settled_s = activity.settled_s - start_s
        true = sorted({e['account_token'] for e in truth['events']
                       if e['shelf_id'] == activity.shelf_id and e['slot_id'] in
                       activity.slot_ids and abs(e['t_settled_s'] - settled_s) < 1.0})
        given = sorted(fusion.identity.sessions[session_id].account_token
                       for session_id in fusion.carts.sessions_with(activity.event_id))
        item = activity.candidates[0] if activity.candidates else None
        what = f'{item.quantity} x {item.sku}' if item else f'{activity.delta_grams:+.0f} g'
        mark = ' ' if set(given) & set(true) or not (given or true) else '!'
        print(f'  {mark} {settled_s:7.1f} s  {activity.kind.name:<7} {what:<18} '
              f'{"+".join(activity.slot_ids):<10} given {",".join(given) or "-":<24} '
              f'true {",".join(true) or "-"}')


def window_truth(truth: dict, minutes: float | None) -> dict:
    """The ground truth of the shoppers who left before the replay ends (with some margin
    for their exit to be seen)."""
    if minutes is None:
        return truth
    end_s = minutes * 60 - 5.0
    shoppers = [s for s in truth['shoppers'] if s['exit_s'] <= end_s]
    accounts = {s['account_token'] for s in shoppers}
    return {**truth, 'shoppers': shoppers,
            'trajectories': {person: path for person, path in truth['trajectories'].items()
                             if person.split('/')[0] in accounts}}


def camera_outage(text: str) -> tuple[str, float, float]:
    camera_id, from_s, to_s = text.split(':')
    return camera_id, float(from_s), float(to_s)


def stuck_cells(text: str) -> StuckCells:
    return StuckCells(*camera_outage(text))


def units_text(units: dict[str, int]) -> str:
    return ', '.join(f'{n} x {sku}' for sku, n in sorted(units.items())) or '(nothing)'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--bag', type=Path, required=True, help='simulator bag (a folder)')
    parser.add_argument('--minutes', type=float, help='replay only this much of the bag')
    parser.add_argument('--cache', type=Path, default=REPO / 'out' / 'replay_cache')
    parser.add_argument('--scanner-topic', action='store_true',
                        help="entries from the bag's dedicated scanner, not the gate camera")
    parser.add_argument('--events', action='store_true', help='print every shelf event')
    parser.add_argument('--camera-gone', type=camera_outage, action='append', default=[],
                        metavar='CAMERA:FROM_S:TO_S', help='drop a camera for a while (sim s)')
    parser.add_argument('--stuck', type=stuck_cells, metavar='SHELF:FROM_S:TO_S',
                        help="freeze a shelf's load cells for a while (sim s)")
    parser.add_argument('--frames-late-s', type=float, default=0.0,
                        help='camera frames reach fusion up to this late (uniform)')
    parser.add_argument('--scans-late-s', type=float, default=0.0,
                        help="the gate's scans reach fusion up to this late (uniform)")
    parser.add_argument('--live-inputs', type=Path, metavar='RECORDING',
                        help="what a soak's fusion was sent, as it came (the soak's "
                        'fusion_inputs), instead of the cores on --bag (which still gives the '
                        'store and the truth)')
    parser.add_argument('--crash-at', type=float, metavar='S',
                        help='kill fusion at this sim time and restart it from its journal')
    parser.add_argument('--accel-noise', type=float,
                        help="the tracker's walking noise (m^2/s^3); default: fusion's")
    args = parser.parse_args()
    truth = json.loads((args.bag / 'ground_truth.json').read_text())
    config = store_of(args.bag)
    settings = FusionSettings()
    if args.accel_noise is not None:
        settings = replace(settings, tracker=replace(settings.tracker,
                                                     accel_noise=args.accel_noise))
    if args.live_inputs:
        outputs, inputs = live_inputs(args.live_inputs)
        scans = outputs.camera_scans
    else:
        outputs = sensor_outputs(args.bag, args.minutes, args.cache, args.stuck)
        scans = outputs.topic_scans if args.scanner_topic else outputs.camera_scans
        for camera_id, from_s, to_s in args.camera_gone:
            gone = (truth['start_unix_s'] + from_s, truth['start_unix_s'] + to_s)
            outputs = replace(outputs, frames=[frame for frame in outputs.frames if not (
                frame[1] == camera_id and gone[0] <= frame[0] < gone[1])])
        inputs = arrivals(outputs, scans, Lateness(args.frames_late_s, args.scans_late_s))
    run = replay_arrivals(inputs, StoreFusion(config, settings), truth['start_unix_s'],
                          None if args.crash_at is None else Crash(args.crash_at))
    if args.events:
        print_events(run, outputs, truth)
    truth = window_truth(truth, args.minutes)
    score = score_store(truth, config, receipts(run, config), run.tracks, run.reviewed)
    print(f'{len(outputs.frames)} camera frames, {len(outputs.activities)} shelf events, '
          f'{len(scans)} entry scans; {len(run.exits)} sessions left')
    print('\nentered without a scan:')
    print('\n'.join(f'  {line}' for line in run.unscanned) or '  (none)')
    print('shelf events no session explains:')
    print('\n'.join(f'  {line}' for line in run.unexplained) or '  (none)')
    print('\nshoppers charged wrong (* = not held for review):')
    for shopper in score.shoppers:
        if not shopper.exact:
            print(f'  {" " if shopper.held else "*"} {shopper.account_token}: charged '
                  f'[{units_text(shopper.charged_units)}]  true '
                  f'[{units_text(shopper.true_units)}]')
    unreviewed = [s for s in score.shoppers if not s.held]
    print(f'\nshoppers {len(score.shoppers)}, exact {sum(s.exact for s in score.shoppers)}; '
          f'not held {len(unreviewed)}, exact {sum(s.exact for s in unreviewed)}; '
          f'bound tracks lost {len(run.lost)}; entered without a scan {len(run.unscanned)}')
    print(f'item P/R {score.item_precision:.3f}/{score.item_recall:.3f}, IDF1 {score.idf1:.3f}, '
          f'review rate {score.review_rate:.1%}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
