"""Benchmark of the whole stack: shoppers x overhead cameras, on this machine.

    .venv/bin/python scripts/bench_store.py [--shoppers 5 20 50] [--cameras 4 12 24]

For each size it makes a London store with that many overhead depth cameras (a grid 4.5 m
up; the gate camera stays), generates an easy scenario with that many shoppers, measures
how fast the bag alone can be replayed into a subscriber (the transport limit), then runs
the stack on it at real time and prints:
- replay x: bag duration / wall time of an as-fast-as-possible replay (transport limit);
- keeps up: whether the detector handled >= 95% of the frames with a p95 lag under 0.5 s;
- frames: share of camera frames the detection nodes report (diagnostics) having handled;
  lag p50/p95 (s): sim time between a frame and its detections reaching this script, on
  `LAG_CAMERAS` of the cameras spread over both detection processes (taken raw: the probe
  should not add 24 cameras' worth of deliveries and decoding to the machine it measures);
- CPU: cores the stack's processes used on average while the bag played (and each process's
  share, printed under its row);
- pick->cart p50/p95 (s): from a shelf event (its settled stamp) to the cart holding it;
- exit->charge p50/p95 (s): from the exit crossing to its receipt.
Under each row: the machine's cores while the bag played, busy, idle and stolen by a virtual
machine's host (`/proc/stat`): a run on a host that took CPU time away is not comparable.
Generated stores and bags are kept in `--out` and reused.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from jwo_common.dds import use_stack_dds_profile
from jwo_common.testing import claim_ros_domain

REPO = Path(__file__).resolve().parents[1]
LONDON = REPO / 'config' / 'london' / 'store.yaml'
GRIDS = {4: (2, 2), 12: (4, 3), 24: (6, 4)}
MOUNT_Z_M = 4.5
LAG_CAMERAS = 4


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--shoppers', type=int, nargs='+', default=[5, 20, 50])
    parser.add_argument('--cameras', type=int, nargs='+', default=[4, 12, 24],
                        choices=sorted(GRIDS))
    parser.add_argument('--seed', type=int, default=11)
    parser.add_argument('--out', type=Path, default=REPO / 'out' / 'bench')
    parser.add_argument('--generate-only', action='store_true',
                        help='only make the stores and bags (e.g. ahead of a run, niced)')
    return parser.parse_args()


def store_with_cameras(count: int, folder: Path) -> Path:
    """London with `count` overhead depth cameras in a grid over the floor."""
    path = folder / 'store.yaml'
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    document = yaml.safe_load(LONDON.read_text())
    overhead = next(c for c in document['cameras'] if c['depth'])
    others = [c for c in document['cameras'] if not c['depth']]
    floor = document['floor']
    columns, rows = GRIDS[count]
    cameras = []
    for index, (row, column) in enumerate(itertools.product(range(rows), range(columns))):
        x = floor['min_x'] + (column + 0.5) * (floor['max_x'] - floor['min_x']) / columns
        y = floor['min_y'] + (row + 0.5) * (floor['max_y'] - floor['min_y']) / rows
        cameras.append({**overhead, 'id': f'cam_{index + 1:02d}',
                        'mount': {**overhead['mount'], 'x': round(x, 3), 'y': round(y, 3),
                                  'z': MOUNT_Z_M}})
    document['cameras'] = cameras + others
    document['billing']['ledger']['path'] = str(folder / 'var' / 'ledger.sqlite3')
    document['security']['keystore'] = str(folder / 'var' / 'keys')
    document['privacy']['recordings'] = str(folder / 'var' / 'recordings')
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    from jwo_common.keys_cli import init
    init(str(path), ['staff'])
    return path


def scenario_bag(store: Path, shoppers: int, seed: int, folder: Path) -> tuple[Path, float]:
    bag = folder / 'bag'
    duration_s = 60.0 + 3.0 * shoppers
    if not (bag / 'metadata.yaml').is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(REPO / '.venv' / 'bin' / 'jwo_sim_generate'), '--store', str(store),
                        '--seed', str(seed), '--shoppers', str(shoppers), '--duration',
                        str(duration_s), '--difficulty', 'easy', '--out', str(bag)],
                       check=True, stdout=subprocess.DEVNULL)
    return bag, duration_s


def percentiles(values: list[float]) -> str:
    if not values:
        return '-'
    return f'{np.percentile(values, 50):.2f}/{np.percentile(values, 95):.2f}'


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def machine_times(stat_text: str) -> dict[str, float] | None:
    """Seconds all cores spent busy, idle and stolen by a VM's host since boot, from the
    `cpu` line of /proc/stat; None without one."""
    for line in stat_text.splitlines():
        name, *ticks = line.split()
        if name != 'cpu':
            continue
        user, nice, system, idle, iowait, irq, softirq, steal = (int(t) for t in ticks[:8])
        per_s = os.sysconf('SC_CLK_TCK')
        return {'busy': (user + nice + system + irq + softirq) / per_s,
                'idle': (idle + iowait) / per_s, 'stolen': steal / per_s}
    return None


def read_machine_times() -> dict[str, float] | None:
    try:
        return machine_times(Path('/proc/stat').read_text())
    except OSError:
        return None


def machine_cores(before: dict[str, float] | None, after: dict[str, float] | None,
                  seconds: float) -> dict[str, float] | None:
    """Cores busy, idle and stolen on average between two `machine_times`."""
    if before is None or after is None:
        return None
    return {kind: (after[kind] - before[kind]) / seconds for kind in before}


def replay_factor(bag: Path, duration_s: float, executor, probe, log: Path) -> float:
    """Bag duration over the wall time of playing it as fast as possible into a subscriber
    on every topic."""
    from jwo_common.launcher import interrupt, python_module_process
    from jwo_common.qos import sensor_qos
    from jwo_sim.bag_play import message_class
    from jwo_sim.playback import open_bag
    with open_bag(bag) as opened:
        topics = {topic: info.msgtype for topic, info in opened.topics.items()
                  if topic != '/tf_static'}
        expected = sum(1 for _ in opened.messages())
    counts = {'n': 0, 'first': None, 'last': None}

    def received(_raw) -> None:
        now = time.monotonic()
        counts['first'] = counts['first'] or now
        counts['last'] = now
        counts['n'] += 1
    subscriptions = [probe.create_subscription(message_class(msgtype), topic, received,
                                               sensor_qos('reliable', depth=1000), raw=True)
                     for topic, msgtype in topics.items()]
    player = python_module_process('jwo_sim.bag_play', [str(bag), '--rate', '1000',
                                                        '--wait-for-subscribers', '30'], log)
    deadline = time.monotonic() + 600
    while counts['n'] < expected and time.monotonic() < deadline and (
            player.poll() is None or counts['n'] == 0 or time.monotonic() - counts['last'] < 5):
        executor.spin_once(timeout_sec=0.1)
    interrupt(player)
    for subscription in subscriptions:
        probe.destroy_subscription(subscription)
    if counts['n'] < 2:
        return float('nan')
    return duration_s * counts['n'] / expected / (counts['last'] - counts['first'])


def run_stack(store: Path, bag: Path, duration_s: float, executor, probe, out: Path) -> dict:
    from jwo_common.launcher import Stack, interrupt, play_bag
    from jwo_common.qos import EVENTS, sensor_qos
    from jwo_billing.billing_node import RECEIPTS_QOS
    from jwo_interfaces.msg import (Cart, GateEvent, Receipt, ShelfEvent,
                                    ShopperDetectionArray)
    from diagnostic_msgs.msg import DiagnosticArray
    from rosgraph_msgs.msg import Clock

    # A fresh ledger and fusion journal: a journal left by an earlier run of the same bag
    # would restore its sessions, and the ledger would refuse to charge them twice.
    shutil.rmtree(out / 'var', ignore_errors=True)
    stack = Stack(store, 'bag', use_sim_time=True, var_dir=out / 'var', log_dir=out / 'logs',
                  log=lambda line: None)
    clock = {'sim': 0.0, 'wall': time.monotonic()}

    def sim_now() -> float:
        """Sim time now: the last /clock (10 Hz) carried forward on the wall clock."""
        return clock['sim'] + time.monotonic() - clock['wall']
    lags, detected = [], [0]
    arrivals: dict[str, tuple[int, int, int]] = {}     # camera -> received, missing, lost
    shelf_stamps, cart_latency, exits, charge_latency = {}, [], {}, []

    def seconds(stamp) -> float:
        return stamp.sec + stamp.nanosec * 1e-9

    def on_detections(raw: bytes) -> None:
        # The header's stamp opens the CDR body, after the 4-byte encapsulation header.
        order = '<' if raw[1] & 1 else '>'
        sec, nanosec = struct.unpack_from(order + 'iI', raw, 4)
        lags.append(sim_now() - (sec + nanosec * 1e-9))

    def on_diagnostics(msg) -> None:
        # Each detection node reports the frames it handled per camera since its last report,
        # and since it started: those that reached it, those missing from the camera's
        # timeline and those of them DDS reports lost on the way.
        for status in msg.status:
            if status.name.startswith('shopper_detection'):
                values = {kv.key: kv.value for kv in status.values}
                detected[0] += int(values['frames'])
                arrivals[status.hardware_id] = tuple(
                    int(values[key]) for key in ('received_frames', 'missing_frames',
                                                 'lost_in_transport'))

    def on_cart(msg) -> None:
        for item in msg.items:
            for event_id in item.event_ids:
                if event_id in shelf_stamps:
                    cart_latency.append(sim_now() - shelf_stamps.pop(event_id))

    def on_gate(msg) -> None:
        if msg.kind == GateEvent.EXIT:
            exits.setdefault(msg.session_id, seconds(msg.header.stamp))

    def on_receipt(msg) -> None:
        if msg.kind == Receipt.SALE and msg.session_id in exits:
            charge_latency.append(sim_now() - exits.pop(msg.session_id))

    subscriptions = [
        probe.create_subscription(Clock, '/clock', lambda m: clock.update(
            sim=seconds(m.clock), wall=time.monotonic()), 10),
        probe.create_subscription(ShelfEvent, '/shelves/events',
                                  lambda m: shelf_stamps.setdefault(m.event_id,
                                                                    seconds(m.header.stamp)),
                                  EVENTS),
        probe.create_subscription(Cart, '/carts', on_cart, EVENTS),
        probe.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 100),
        probe.create_subscription(GateEvent, '/gates/events', on_gate, EVENTS),
        probe.create_subscription(Receipt, '/receipts', on_receipt, RECEIPTS_QOS)]
    cameras = [c.id for c in stack.config.cameras if c.depth]
    step = max(1, len(cameras) // LAG_CAMERAS)
    subscriptions += [probe.create_subscription(ShopperDetectionArray,
                                                f'/cameras/{camera}/detections', on_detections,
                                                sensor_qos('reliable', depth=100), raw=True)
                      for camera in cameras[::step]]
    spin = lambda s: executor.spin_once(timeout_sec=s)  # noqa: E731
    try:
        stack.start(lambda: set(probe.get_node_names()), spin)
        cpu_before = {name: cpu_seconds(stack.pid(name)) for name in stack.running}
        bench_cpu_before = cpu_seconds(os.getpid())
        machine_before = read_machine_times()
        started = time.monotonic()
        # The player is the only child that ends meanwhile: the reaped children's CPU is its.
        reaped_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        player = play_bag(bag, 1.0, out / 'logs' / 'bag_play.log')
        while player.poll() is None:
            stack.check_alive()
            spin(0.05)
        played_s = time.monotonic() - started
        machine = machine_cores(machine_before, read_machine_times(), played_s)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        player_cpu = (reaped.ru_utime + reaped.ru_stime - reaped_before.ru_utime
                      - reaped_before.ru_stime) / played_s
        bench_cpu = cpu_seconds(os.getpid()) - bench_cpu_before
        cpu = {name: (cpu_seconds(stack.pid(name)) - cpu_before[name]) / played_s
               for name in stack.running}
        settle = time.monotonic() + 20
        while time.monotonic() < settle and exits:
            spin(0.05)
        interrupt(player)
    finally:
        stack.stop()
        for subscription in subscriptions:
            probe.destroy_subscription(subscription)
    expected_frames = len(cameras) * stack.config.cameras[0].fps * duration_s
    frame_share = detected[0] / expected_frames
    received, missing, lost = (sum(column) for column in zip(*arrivals.values())) \
        if arrivals else (0, 0, 0)
    p95_lag = float(np.percentile(lags, 95)) if lags else float('inf')
    return {'frames': frame_share, 'lag': percentiles(lags), 'cpu': sum(cpu.values()),
            'cpu_by_process': cpu, 'player_cpu': player_cpu, 'bench_cpu': bench_cpu / played_s,
            'machine': machine,
            'keeps_up': frame_share >= 0.95 and p95_lag < 0.5,
            'pick_cart': percentiles(cart_latency), 'exit_charge': percentiles(charge_latency),
            'missing': missing / max(received + missing, 1),
            'lost': lost / max(received + missing, 1)}


def main() -> int:
    args = parse_arguments()
    if args.generate_only:
        for cameras, shoppers in itertools.product(args.cameras, args.shoppers):
            store = store_with_cameras(cameras, args.out / f'c{cameras}')
            bag, _ = scenario_bag(store, shoppers, args.seed, args.out / f'c{cameras}_s{shoppers}')
            print(f'{bag}: ready', flush=True)
        return 0
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_DOMAIN_ID'] = str(claim_ros_domain())
    use_stack_dds_profile()     # the bag player's writers, as the stack's
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    rclpy.init()
    probe = rclpy.create_node('jwo_bench_store')
    executor = SingleThreadedExecutor()
    executor.add_node(probe)
    header = (f'{"cams":>4} {"shoppers":>8} {"sim s":>6} {"replay x":>8} {"keeps up":>8} '
              f'{"frames":>7} {"lag p50/p95":>12} {"CPU":>5} {"pick->cart":>11} '
              f'{"exit->charge":>12}')
    rows = []
    try:
        for cameras in args.cameras:
            store = store_with_cameras(cameras, args.out / f'c{cameras}')
            for shoppers in args.shoppers:
                folder = args.out / f'c{cameras}_s{shoppers}'
                print(f'{cameras} cameras, {shoppers} shoppers: generating ...', flush=True)
                bag, duration_s = scenario_bag(store, shoppers, args.seed, folder)
                print('  replaying as fast as possible ...', flush=True)
                replay = replay_factor(bag, duration_s, executor, probe, folder / 'replay.log')
                print(f'  running the stack ({duration_s:.0f} s) ...', flush=True)
                result = run_stack(store, bag, duration_s, executor, probe, folder)
                rows.append(f'{cameras:>4} {shoppers:>8} {duration_s:>6.0f} {replay:>8.1f} '
                            f'{"yes" if result["keeps_up"] else "NO":>8} '
                            f'{result["frames"]:>7.1%} {result["lag"]:>12} '
                            f'{result["cpu"]:>5.2f} {result["pick_cart"]:>11} '
                            f'{result["exit_charge"]:>12}')
                print(header + '\n' + rows[-1], flush=True)
                print('  CPU cores by process: ' + ', '.join(
                    f'{name} {cores:.2f}' for name, cores in result['cpu_by_process'].items())
                    + f'; outside the stack: bag player {result["player_cpu"]:.2f}, this '
                    f'bench {result["bench_cpu"]:.2f}', flush=True)
                if result['machine']:
                    print('  the machine\'s cores meanwhile: {busy:.2f} busy, {idle:.2f} idle, '
                          '{stolen:.2f} stolen by the VM\'s host'.format(**result['machine']),
                          flush=True)
                print(f'  depth frames missing on arrival at detection: {result["missing"]:.1%}, '
                      f'of which DDS reports {result["lost"]:.1%} lost on the way (the rest were '
                      'replaced by newer ones while the node was busy)', flush=True)
    finally:
        executor.shutdown()
        probe.destroy_node()
        rclpy.try_shutdown()
    print(f'\n{os.cpu_count()} cores; the stack at real time; lags and latencies in sim '
          'seconds\n' + header)
    for row in rows:
        print(row)
    return 0


if __name__ == '__main__':
    sys.exit(main())
