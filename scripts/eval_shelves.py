#!/usr/bin/env python3
"""Evaluation: shelf pick/put detection and item identification on simulator scenarios.

Runs the event pipeline (the code the shelf event node runs, without ROS) on jwo_sim
scenarios of each difficulty (noise, drift, dropouts, misplaced put-backs, products of
near-identical weight side by side) and prints, against the simulator's ground truth:
event precision, recall and F1; item+quantity accuracy; latency from the weight settling
to the event coming out (sim time, including the 100 ms batching).

    .venv/bin/python scripts/eval_shelves.py [--store config/london/store.yaml]
        [--seeds 5] [--shoppers 8] [--seconds 120] [--difficulty easy medium hard]

Targets: event F1 >= 0.99, item+quantity accuracy >= 98 %, latency <= 1.0 s.

The truth is scored two ways. "each reach": every shopper's reach is an event (reaches into
one slot that overlap in time and move the same product the same way are one). "plate
change": what the plate's weight shows, which is what a load cell can be asked for. Reaches
into one slot that follow each other without the plate resting for a settling window between
them are one change, their net change: the plate never shows the levels in between.
Either way, reaches that all take (or all put) are split again where the detector sees
their units leave one by one (lifts, see jwo_shelves.weight_events): then each is an event,
and whose each is, fusion's job.

Latency counts from when the plate's weight stopped changing (after the last of such
reaches), not counting time its cells gave no readings within the first settling window
after it: nothing can see a settle that no reading shows. The largest latency with that time
counted is printed too.

Weight alone cannot tell a 104 g chocolate bar put back among 108 g ones from the plate's
own product. Fusion reads a put-back against the cart of the shopper it attributes it to
(`jwo_fusion.attribution.put_back_item`); `--carts` scores the puts that way too, with the
true shopper's cart (attribution itself is measured by eval_fusion.py).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_scenario(config, scenario, carts: bool):
    """The simulation's result and what the shelf monitors published on it."""
    from jwo_shelves.evaluation import Detection
    from jwo_shelves.planogram import ShelfPlanogram
    from jwo_shelves.shelf_monitor import ShelfMonitor
    from jwo_sim.load_cells import load_cell_batches
    from jwo_sim.simulation import simulate

    result = simulate(config, scenario)
    detections = []
    for shelf_id, signal in result.signals.items():
        monitor = ShelfMonitor(ShelfPlanogram.from_config(config, shelf_id))
        last_ns = 0
        for batch in load_cell_batches(signal):
            start_ns = round(batch.stamp_s * 1e9)
            last_ns = start_ns + round((batch.grams.shape[0] - 1) * 1e9 / batch.sample_rate_hz)
            for event in monitor.process(batch.slot_ids, start_ns, batch.sample_rate_hz,
                                         batch.grams):
                detections.append(Detection(event, published_ns=last_ns))
        detections += [Detection(event, published_ns=last_ns) for event in monitor.flush()]
    if carts:
        detections = [read_put_from_cart(d, result.events) for d in detections]
    return result, detections


def read_put_from_cart(detection, true_events):
    """The detection with a put-back's candidates led by what fusion would read from the
    cart of the shopper who truly put it back (the true put nearest in time on its slots)."""
    from jwo_fusion.attribution import ItemCandidate, put_back_item
    from jwo_shelves.shelf_monitor import EventKind
    event = detection.event
    puts = [e for e in true_events if e.kind == 'put' and e.shelf_id == event.shelf_id
            and e.slot_id in event.slot_ids]
    if event.kind != EventKind.PUT or not event.candidates or not puts:
        return detection
    settled_s = event.settled_ns / 1e9
    put = min(puts, key=lambda e: abs(e.t_settled_s - settled_s))
    held = Counter()
    for e in true_events:
        if e.account_token == put.account_token and e.t_settled_s <= put.t_start_s:
            held[e.sku] += e.quantity if e.kind == 'pick' else -e.quantity
    weighed = [ItemCandidate(c.sku, c.quantity, c.probability) for c in event.candidates]
    read = put_back_item(weighed, held)
    first = next(c for c in event.candidates if (c.sku, c.quantity) == (read.sku, read.quantity))
    candidates = (first,) + tuple(c for c in event.candidates if c is not first)
    return replace(detection, event=replace(event, candidates=candidates))


def plate_settled_s(events, group, rest_s: float) -> float:
    """When the plate `group` reached into stopped changing: the group's settle, or that of
    the reaches into the slot that came before the plate had rested for `rest_s`."""
    first = group[0]
    end = max(e.t_settled_s for e in group)
    for event in sorted(events, key=lambda e: e.t_start_s):
        if (event.shelf_id, event.slot_id) == (first.shelf_id, first.slot_id) and \
                first.t_start_s <= event.t_start_s < end + rest_s:
            end = max(end, event.t_settled_s)
    return end


def readable_from_s(signal, slot_id: str, settled_s: float, window_s: float) -> float:
    """The settle as readings show it: later by the time the plate's cells gave no readings
    before a settling window's worth of them had come in after it."""
    import numpy as np
    column = signal.grams[:, signal.slot_ids.index(slot_id)]
    after = np.flatnonzero((signal.t_s >= settled_s) & np.isfinite(column))
    needed = max(1, round(window_s * signal.sample_rate_hz))
    if after.size < needed:
        return settled_s
    window_filled_s = float(signal.t_s[after[needed - 1]])
    return max(settled_s, window_filled_s - (needed - 1) / signal.sample_rate_hz)


def true_events(result, quiet_gap_s: float, net: bool, rest_s: float, lift_gap_s: float,
                lift_visible_g: float):
    """(TrueEvents, when each one's plate stopped changing in ns, reaches merged into
    another's event). Reaches into one slot that overlap in time and move the same product
    the same way are one weight change (the sum). With `quiet_gap_s` > 0, reaches that
    follow each other closer than that also merge: a plate that never rests for a settling
    window between them shows a single change. Either way the detector splits a change
    again at its lifts when they are `lift_gap_s` apart and all one way (`by_lift`).

    With `net`, such reaches merge whatever they move, into their net change per product:
    nothing when it cancels out, and a mix of products (a put and a pick of different
    products at once) that no single (product, quantity) can name correctly."""
    merged: list[list] = []
    for event in sorted(result.events, key=lambda e: e.t_start_s):
        for group in merged:
            last = group[-1]
            joins = (last.shelf_id, last.slot_id) == (event.shelf_id, event.slot_id) and \
                (net or (last.kind, last.sku) == (event.kind, event.sku))
            if joins and event.t_start_s < max(e.t_settled_s for e in group) + quiet_gap_s:
                group.append(event)
                break
        else:
            merged.append([event])
    truths, plate_settles_ns, changes = [], [], 0
    for change in merged:
        settled_s = plate_settled_s(result.events, change, rest_s)
        for group in by_lift(change, lift_gap_s, lift_visible_g):
            changes += 1
            truth = true_event(result, group, settled_s, rest_s)
            if truth is not None:
                truths.append(truth)
                plate_settles_ns.append(round(settled_s * 1e9))
    return truths, plate_settles_ns, len(result.events) - changes


def by_lift(change: list, lift_gap_s: float, visible_g: float) -> list[list]:
    """The reaches of one plate change as the detector reports them: all taking (or all
    putting) with their units leaving (landing) `lift_gap_s` or more apart, one each (lifts
    closer than that are one), when each lift moves `visible_g` or more; otherwise the
    change is one. The simulator's units move halfway through a reach."""
    if len({e.kind for e in change}) > 1:
        return [change]
    parts: list[list] = []
    last_lift_s = None
    for event in sorted(change, key=lambda e: e.t_start_s + e.t_settled_s):
        lift_s = (event.t_start_s + event.t_settled_s) / 2
        if parts and lift_s - last_lift_s < lift_gap_s:
            parts[-1].append(event)
        else:
            parts.append([event])
        last_lift_s = lift_s
    if any(abs(sum(e.delta_grams for e in part)) < visible_g for part in parts):
        return [change]
    return parts


def true_event(result, group: list, settled_s: float, rest_s: float):
    """The TrueEvent of reaches that are one change, seen once the plate has settled at
    `settled_s`; None when they cancel out."""
    from jwo_shelves.evaluation import TrueEvent
    from jwo_shelves.shelf_monitor import EventKind
    units = Counter()
    for event in group:
        units[event.sku] += event.quantity if event.kind == 'put' else -event.quantity
    moved = {sku: count for sku, count in units.items() if count}
    if not moved:
        return None
    grams = sum(e.delta_grams for e in group)
    sku, count = next(iter(moved.items())) if len(moved) == 1 else \
        ('+'.join(f'{s}{c:+d}' for s, c in sorted(moved.items())), 0)
    first = group[0]
    seen_s = readable_from_s(result.signals[first.shelf_id], first.slot_id, settled_s, rest_s)
    return TrueEvent(first.shelf_id, (first.slot_id,),
                     EventKind.PUT if grams > 0 else EventKind.PICK, sku, abs(count),
                     round(max(e.t_settled_s for e in group) * 1e9),
                     seen_ns=round(seen_s * 1e9))


def mistakes(truths, detections, limit: int) -> list[str]:
    """A few unmatched or misidentified events, to see what goes wrong."""
    from jwo_shelves.evaluation import score
    lines = []
    for truth in truths:
        nearby = [d for d in detections if d.event.shelf_id == truth.shelf_id
                  and set(d.event.slot_ids) & set(truth.slot_ids)
                  and abs(d.event.settled_ns - truth.settled_ns) <= 2e9]
        if score([truth], nearby).identified:
            continue
        seen = '; '.join(f'{"+".join(d.event.slot_ids)} {d.event.kind.name} '
                         f'{d.event.delta_g:+.1f} g ' + ','.join(
                             f'{c.sku}x{c.quantity}:{c.probability:.2f}'
                             for c in d.event.candidates[:3]) for d in nearby) or 'nothing'
        lines.append(f'  at {truth.settled_ns / 1e9:7.2f} s {truth.shelf_id}/{truth.slot_ids[0]} '
                     f'{truth.kind.name} {truth.sku} x{truth.quantity} -> {seen}')
        if len(lines) >= limit:
            break
    return lines


# (name, merge reaches less than this apart (None: the settling window), as their net change)
SCORINGS = (('each reach', 0.0, False), ('plate change', None, True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--store', default=str(ROOT / 'config' / 'london' / 'store.yaml'))
    parser.add_argument('--seeds', type=int, default=5)
    parser.add_argument('--shoppers', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=120.0)
    parser.add_argument('--difficulty', nargs='+', default=['easy', 'medium', 'hard'])
    parser.add_argument('--show-mistakes', type=int, default=5)
    parser.add_argument('--carts', action='store_true',
                        help="read each put-back against the true shopper's cart, as fusion "
                        "reads it against the attributed shopper's")
    args = parser.parse_args()
    from jwo_common.store_config import load_store_config
    from jwo_shelves.evaluation import score
    from jwo_shelves.weight_events import DetectorSettings
    from jwo_sim.scenario import generate_scenario

    detector = DetectorSettings()
    rest_s, lift_gap_s, lift_sigmas = \
        detector.window_s, detector.min_lift_gap_s, detector.lift_sigmas
    config = load_store_config(args.store)
    print(f'store {config.store.id}: {args.seeds} seeds x {args.shoppers} shoppers x '
          f'{args.seconds:.0f} s per difficulty'
          + ("; put-backs read against the shopper's cart" if args.carts else ''))
    print(f'{"difficulty":<10} {"scored as":<12} {"events":>6} {"found":>6} {"precision":>9} '
          f'{"recall":>7} {"F1":>6} {"item+qty":>8} {"lat p50":>7} {"lat p95":>7} '
          f'{"lat max":>7}')
    worst = {name: (1.0, 1.0, 0.0) for name, _, _ in SCORINGS}
    for difficulty in args.difficulty:
        detections = []
        scored = {name: ([], [], [], [0]) for name, _, _ in SCORINGS}
        for seed in range(args.seeds):
            scenario = generate_scenario(config, seed=seed, n_shoppers=args.shoppers,
                                         duration_s=args.seconds, difficulty=difficulty,
                                         store_config_path=args.store)
            result, seed_detections = run_scenario(config, scenario, args.carts)
            # A lift is a jump beyond lift_sigmas x the jumps' noise (sqrt 2 x the cells');
            # one at twice that is seen and measured well enough to split a change at.
            lift_visible_g = 2 * lift_sigmas * math.sqrt(2) * scenario.faults.noise_g
            # Seeds are separate runs: keep their events apart by shifting time.
            offset_ns = round(seed * (args.seconds + 100) * 1e9)
            detections += [d.__class__(
                event=replace(d.event, settled_ns=d.event.settled_ns + offset_ns),
                published_ns=d.published_ns + offset_ns) for d in seed_detections]
            for name, quiet_gap_s, net in SCORINGS:
                truths, plate_settles_ns, problems, merges = scored[name]
                seed_truths, seed_settles_ns, seed_merges = true_events(
                    result, rest_s if quiet_gap_s is None else quiet_gap_s, net, rest_s,
                    lift_gap_s, lift_visible_g)
                truths += [replace(t, settled_ns=t.settled_ns + offset_ns,
                                   seen_ns=t.seen_ns + offset_ns) for t in seed_truths]
                plate_settles_ns += [settled_ns + offset_ns for settled_ns in seed_settles_ns]
                merges[0] += seed_merges
                problems += [f'  seed {seed}:' + line[1:] for line in
                             mistakes(seed_truths, seed_detections, args.show_mistakes)]
        for row, (name, _, _) in enumerate(SCORINGS):
            truths, plate_settles_ns, problems, merges = scored[name]
            result = score(truths, detections)
            print(f'{difficulty if row == 0 else "":<10} {name:<12} {result.true_events:>6} '
                  f'{result.detected:>6} {result.precision:>9.4f} {result.recall:>7.4f} '
                  f'{result.f1:>6.4f} {result.identification_accuracy:>7.2%} '
                  f'{result.latency_percentile_s(50):>6.2f}s '
                  f'{result.latency_percentile_s(95):>6.2f}s '
                  f'{max(result.latencies_s, default=float("nan")):>6.2f}s')
            with_dropouts = max(((detections[j].published_ns - plate_settles_ns[i]) / 1e9
                                 for i, j in result.pairs), default=float('nan'))
            print(f'{"":<23} {merges[0]} reaches merged into another\'s change; latency max '
                  f'with the cells\' dropouts counted: {with_dropouts:.2f} s')
            slowest = sorted(zip(result.latencies_s, result.pairs), reverse=True)[:2]
            for latency, (i, j) in slowest:
                if latency > 0.8:
                    truth, event = truths[i], detections[j].event
                    print(f'  slow: {latency:.2f} s {truth.shelf_id}/{truth.slot_ids[0]} '
                          f'{truth.kind.name} {truth.sku} x{truth.quantity} at '
                          f'{truth.settled_ns / 1e9:.2f} s (plate settled '
                          f'{plate_settles_ns[i] / 1e9:.2f} s, read from '
                          f'{truth.seen_ns / 1e9:.2f} s); detected {"+".join(event.slot_ids)} '
                          f'settled {event.settled_ns / 1e9:.2f} s')
            for line in problems[:args.show_mistakes]:
                print(line)
            f1, accuracy, latency = worst[name]
            worst[name] = (min(f1, result.f1), min(accuracy, result.identification_accuracy),
                           max(latency, max(result.latencies_s, default=0.0)))
        kinds = Counter(d.event.kind.name for d in detections)
        print(f'{"":<23} detected kinds: {dict(kinds)}')
    for name, (f1, accuracy, latency) in worst.items():
        print(f'worst, {name}: F1 {f1:.4f} (target >= 0.99), item+quantity {accuracy:.2%} '
              f'(target >= 98%), latency max {latency:.2f} s (target <= 1.0 s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
