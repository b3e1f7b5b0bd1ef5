"""`check_store_config FILE...`: validate store configs, one line per file."""

import argparse
import sys

from jwo_common.store_config import StoreConfigError, load_store_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('configs', nargs='+', help='store config YAML files')
    args = parser.parse_args(argv)
    failed = False
    for path in args.configs:
        try:
            config = load_store_config(path)
        except StoreConfigError as error:
            print(f'error: {error}', file=sys.stderr)
            failed = True
            continue
        slots = sum(len(shelf.slots) for shelf in config.shelves)
        print(f'{path}: ok: store {config.store.id} ({config.store.currency}), '
              f'{len(config.cameras)} cameras, {len(config.shelves)} shelves, {slots} slots, '
              f'{len(config.products)} products, {len(config.gates)} gates')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
