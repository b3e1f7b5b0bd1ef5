"""Fuzzes the parsers that take input from outside: every input must parse or raise the
parser's own clear error; anything else is a crash, printed with its input (exit 1).

    .venv/bin/python scripts/fuzz.py [--inputs 10000] [--seed 1] [--only store_config ...]

Targets: the store config loader, the app QR payload, the load-cell and RFID serial lines,
the camera_info YAML reader and the bag reader. Inputs are seeded mutations of valid ones
(byte flips, cuts, insertions, repeats, and for YAML a value of the wrong kind put anywhere
in the document), so the same seed gives the same inputs. Prints inputs/s per target.
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DUMPER = getattr(yaml, 'CSafeDumper', yaml.SafeDumper)
ODD_VALUES = [None, -1, 0, 2**63, -2**63, 1e308, float('nan'), '', 'x' * 300, '\x00\x1b[2J',
              [], {}, [None], {'': None}, True, 'NaN', '-0', '0x10', '1e999']


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not data:
            data += bytes([rng.randrange(256)])
            continue
        where = rng.randrange(len(data))
        kind = rng.randrange(5)
        if kind == 0:
            data[where] = rng.randrange(256)
        elif kind == 1:
            del data[where:where + rng.randint(1, 64)]
        elif kind == 2:
            data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind == 3:
            span = data[where:where + rng.randint(1, 32)]
            data[where:where] = span * rng.randint(1, 4)
        else:
            del data[where:]
    return bytes(data)


def mutate_yaml(document, rng: random.Random):
    """A deep copy with one value somewhere replaced by an odd one, or one key removed."""
    document = copy.deepcopy(document)
    node, key = None, None
    current = document
    for _ in range(rng.randint(1, 6)):
        if isinstance(current, dict) and current:
            node, key = current, rng.choice(list(current))
        elif isinstance(current, list) and current:
            node, key = current, rng.randrange(len(current))
        else:
            break
        current = node[key]
    if node is None:
        return rng.choice(ODD_VALUES)
    if isinstance(node, dict) and rng.random() < 0.3:
        del node[key]
    else:
        node[key] = rng.choice(ODD_VALUES)
    return document


@dataclass
class Target:
    name: str
    make_input: Callable[[random.Random], object]
    parse: Callable[[object], object]
    expected_errors: tuple[type[BaseException], ...]


def targets(work: Path) -> list[Target]:
    from jwo_cameras.camera_model import CameraInfoFileError, CameraModel, camera_info_yaml, \
        read_camera_info
    from jwo_cameras.entry_gate import AppCodeError, parse_app_code
    from jwo_common.store_config import StoreConfigError, load_store_config
    from jwo_shelves.serial_protocol import Malformed, parse_board_line, parse_tag_line
    from jwo_sim.playback import BagError, open_bag

    store_text = (REPO / 'config' / 'london' / 'store.yaml').read_text()
    store_data = yaml.safe_load(store_text)
    info_text = camera_info_yaml(CameraModel(640, 480, 610.5, 611.25, 322.0, 241.5, 'plumb_bob',
                                             (0.1, -0.2, 0.001, 0.002, 0.05), 'gate_cam'))
    bag_bytes = small_bag(work)

    def store_input(rng):
        if rng.random() < 0.5:
            return yaml.dump(mutate_yaml(store_data, rng), Dumper=DUMPER, allow_unicode=True)
        return mutate_bytes(store_text.encode(), rng).decode('utf-8', 'replace')

    def load_text(loader, name):
        def parse(text):
            path = work / name
            path.write_text(text, encoding='utf-8', errors='surrogateescape')
            return loader(path)
        return parse

    def parse_bag(data):
        folder = work / 'bag'
        folder.mkdir(exist_ok=True)
        (folder / 'bag.mcap').write_bytes(data)
        with open_bag(folder / 'bag.mcap') as bag:
            return sum(1 for _ in bag.messages())

    def line_input(valid):
        return lambda rng: mutate_bytes(rng.choice(valid).encode(), rng).decode('utf-8',
                                                                               'replace')
    return [
        Target('store_config', store_input, load_text(load_store_config, 'store.yaml'),
               (StoreConfigError,)),
        Target('qr_payload', lambda rng: mutate_bytes(b'acct_101_000', rng).decode(
            'utf-8', 'replace'), parse_app_code, (AppCodeError,)),
        Target('load_cell_line', line_input(['S,1041,17350000,84120,-3,E,120577',
                                             '# banner v2', 'S,0,0,1']),
               parse_board_line, (Malformed,)),
        Target('rfid_line', line_input(['T,1,3034257BF400000000000042,-61.5,90210000',
                                        'T,0,AB,-40']), parse_tag_line, (Malformed,)),
        Target('camera_info', lambda rng: mutate_bytes(info_text.encode(), rng).decode(
            'utf-8', 'replace') if rng.random() < 0.5 else yaml.dump(
                mutate_yaml(yaml.safe_load(info_text), rng), Dumper=DUMPER),
            load_text(read_camera_info, 'camera.yaml'), (CameraInfoFileError,)),
        Target('bag', lambda rng: mutate_bytes(bag_bytes, rng), parse_bag, (BagError,)),
    ]


def small_bag(work: Path) -> bytes:
    """A 2-second, one-shopper bag's MCAP bytes: small, so that many mutations run fast."""
    from jwo_common.store_config import load_store_config
    from jwo_sim.bag_writer import write_bag
    from jwo_sim.scenario import generate_scenario
    from jwo_sim.simulation import simulate
    config = load_store_config(REPO / 'config' / 'london' / 'store.yaml')
    # No cameras: their frames would make the bag, and every mutation of it, large.
    config = config.model_copy(update={'cameras': [], 'gates': [
        g.model_copy(update={'scanner_camera': None}) for g in config.gates]})
    scenario = generate_scenario(config, 1, 0, 2.0, 'easy')
    write_bag(simulate(config, scenario), work / 'seed_bag')
    return next((work / 'seed_bag').glob('*.mcap')).read_bytes()


def fuzz(target: Target, inputs: int, seed: int) -> list[str]:
    """Crashes as printable reports; empty when every input parsed or was refused clearly."""
    rng = random.Random(f'{seed}:{target.name}')
    crashes = []
    for _ in range(inputs):
        data = target.make_input(rng)
        try:
            target.parse(data)
        except target.expected_errors as error:
            if not str(error).strip():
                crashes.append(f'{target.name}: empty error message for input {data!r:.300}')
        except Exception:  # noqa: BLE001 - anything else is what we are looking for
            crashes.append(f'{target.name}: crash on input {data!r:.300}\n'
                           f'{traceback.format_exc(limit=-3)}')
    return crashes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--inputs', type=int, default=10_000, help='inputs per target')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--only', nargs='+', help='target names')
    args = parser.parse_args(argv)
    crashed = 0
    with tempfile.TemporaryDirectory(prefix='jwo-fuzz-') as folder:
        for target in targets(Path(folder)):
            if args.only and target.name not in args.only:
                continue
            started = time.perf_counter()
            crashes = fuzz(target, args.inputs, args.seed)
            elapsed = time.perf_counter() - started
            print(f'{target.name:<15} {args.inputs} inputs, {args.inputs / elapsed:8.0f}/s, '
                  f'{len(crashes)} crashes', flush=True)
            for report in crashes[:3]:
                print('  ' + report.replace('\n', '\n  '))
            crashed += bool(crashes)
    return 1 if crashed else 0


if __name__ == '__main__':
    sys.exit(main())
