"""Console scripts: `jwo_sim_generate` (scenario -> bag) and `jwo_bag_info` (what a bag holds).

Bad input ends with one line on stderr naming the file, and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from rosbags.rosbag2 import Reader

from jwo_common.store_config import StoreConfigError, load_store_config
from jwo_sim.bag_writer import write_bag
from jwo_sim.retention import purge_expired_images
from jwo_sim.scenario import Scenario, ScenarioError, generate_scenario, load_scenario, \
    parse_scenario
from jwo_sim.simulation import simulate


def generate_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='jwo_sim_generate',
        description='Simulate a seeded store scenario into a rosbag2 (MCAP) bag with '
                    'ground_truth.json and scenario.yaml beside the messages.')
    parser.add_argument('--store', required=True, help='store config YAML')
    parser.add_argument('--scenario', help='scenario YAML to run instead of generating one')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--shoppers', type=int, default=4)
    parser.add_argument('--duration', type=float, default=60.0, help='seconds of sim time')
    parser.add_argument('--difficulty', choices=['easy', 'medium', 'hard'], default='easy')
    parser.add_argument('--arrival-spread', type=float,
                        help="share of the duration over which shoppers arrive (default: the "
                             "difficulty's)")
    parser.add_argument('--overhead-color', action='store_true',
                        help='also render colour images of the overhead cameras')
    parser.add_argument('--fault', action='append', default=[], metavar='NAME=VALUE',
                        help='override a fault knob of the generated scenario, e.g. '
                             'depth_noise_mm_at_1m=0 (repeatable; see jwo_sim.scenario.Faults)')
    parser.add_argument('--out', required=True, help='bag directory to create (must not exist)')
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        if out.exists():
            raise ScenarioError(f'{out}: already exists (remove it or pick another --out)')
        config = load_store_config(args.store)
        if args.scenario:
            scenario = load_scenario(args.scenario)
            source = args.scenario
        else:
            scenario = generate_scenario(config, args.seed, args.shoppers, args.duration,
                                         args.difficulty, store_config_path=args.store,
                                         overhead_color=args.overhead_color,
                                         arrival_spread=args.arrival_spread)
            scenario = _override_faults(scenario, args.fault)
            source = f'generated scenario (seed {args.seed})'
        result = simulate(config, scenario, source)
        write_bag(result, out)
    except (StoreConfigError, ScenarioError) as error:
        print(f'jwo_sim_generate: {error}', file=sys.stderr)
        return 1
    ground_truth = result.ground_truth()
    print(f'{out}: {len(scenario.shoppers)} shoppers, {len(ground_truth["events"])} shelf '
          f'events, {scenario.duration_s:g} s')
    return 0


def _override_faults(scenario: Scenario, overrides: list[str]) -> Scenario:
    values = scenario.faults.model_dump()
    for override in overrides:
        name, _, value = override.partition('=')
        if name not in values or not value:
            raise ScenarioError(f'--fault {override}: expected NAME=VALUE with NAME one of '
                                f'{sorted(values)}')
        values[name] = value
    return parse_scenario({**scenario.model_dump(mode='json'), 'faults': values}, '--fault')


def bag_summary(path: Path | str) -> dict:
    """{'duration_s', 'topics': {topic: (msgtype, count)}} from reading every message, so a
    truncated or corrupt file fails here rather than later in a test."""
    counts: Counter[str] = Counter()
    with Reader(path) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for connection, _, _ in reader.messages():
            counts[connection.topic] += 1
        duration_s = reader.duration / 1e9 if counts else 0.0
    return dict(duration_s=duration_s,
                topics={topic: (types[topic], counts[topic]) for topic in sorted(types)})


def bag_info_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_bag_info',
                                     description='Topics, message counts and duration of a bag.')
    parser.add_argument('bag', help='rosbag2 directory (or .mcap file)')
    args = parser.parse_args(argv)
    try:
        summary = bag_summary(args.bag)
    except Exception as error:  # noqa: BLE001 - any failure to read is reported as one line
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f'jwo_bag_info: {args.bag}: cannot read bag: {reason}', file=sys.stderr)
        return 1
    print(f'bag: {args.bag}')
    print(f'duration: {summary["duration_s"]:.3f} s')
    for topic, (msgtype, count) in summary['topics'].items():
        print(f'{count:8d}  {topic}  [{msgtype}]')
    return 0


def bag_purge_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='jwo_bag_purge', description="Strip camera images past the store's retention "
        'from its production recordings (the rest of each bag stays).')
    parser.add_argument('store_config')
    parser.add_argument('--dry-run', action='store_true', help='only say what would go')
    parser.add_argument('--now', help='ISO 8601 time to purge as of (default: now)')
    args = parser.parse_args(argv)
    try:
        config = load_store_config(args.store_config)
        now = datetime.fromisoformat(args.now) if args.now else datetime.now(timezone.utc)
    except (StoreConfigError, ValueError) as error:
        print(f'jwo_bag_purge: {error}', file=sys.stderr)
        return 1
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    folder = config.resolve_path(config.privacy.recordings)
    if not folder.is_dir():
        print(f'{folder}: no recordings')
        return 0
    purged = purge_expired_images(folder, config.privacy.image_retention_days,
                                  round(now.timestamp() * 1e9), args.dry_run)
    for bag in purged:
        expired = datetime.fromtimestamp(bag.expired_at_ns / 1e9, timezone.utc)
        print(f'{"would purge" if args.dry_run else "purged"} {bag.image_messages} images on '
              f'{len(bag.image_topics)} topics from {bag.bag} (expired {expired:%Y-%m-%d %H:%M}'
              f' UTC); {bag.kept_messages} other messages kept')
    print(f'{folder}: {len(purged)} recordings with expired images')
    return 0


def generate() -> None:
    sys.exit(generate_main())


def bag_info() -> None:
    sys.exit(bag_info_main())


def bag_purge() -> None:
    sys.exit(bag_purge_main())
