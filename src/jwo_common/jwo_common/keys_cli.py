"""`jwo_keys`: make and rotate the keys that sign gate events and review decisions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jwo_common.signing import (MANIFEST, KeystoreError, add_key, read_manifest, retire_key)
from jwo_common.store_config import StoreConfigError, load_store_config


def init(config_path: str, reviewers: list[str]) -> str:
    """A key for every entry gate, for fusion (exits) and for each reviewer of a store whose
    keystore does not exist yet; an existing keystore is left as it is."""
    config = load_store_config(config_path)
    folder = config.resolve_path(config.security.keystore)
    if (folder / MANIFEST).exists():
        return f'{folder}: keystore exists, left as it is'
    signers = [(gate.id, 'gate') for gate in config.gates_of_kind('entry')]
    signers += [('fusion', 'fusion')] + [(reviewer, 'reviewer') for reviewer in reviewers]
    for signer, role in signers:
        add_key(folder, signer, role)
    return f'{folder}: keystore made: ' + ', '.join(f'{s} ({r})' for s, r in signers)


def rotate(folder: Path, signer: str) -> str:
    current = [k for k in read_manifest(folder / MANIFEST) if k.signer == signer and not k.retired]
    if not current:
        raise KeystoreError(f'{folder / MANIFEST}: no key of {signer!r} to rotate')
    record = add_key(folder, signer, current[0].role)
    return (f'{record.key_id}: new {record.role} key of {signer}; restart {signer}, then '
            'retire ' + ', '.join(k.key_id for k in current))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='jwo_keys', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    init_parser = commands.add_parser('init', help="make a store's keystore if it has none")
    init_parser.add_argument('store_config')
    init_parser.add_argument('--reviewer', action='append', default=None,
                             help='reviewer id to make a key for (repeatable; default: staff)')
    add_parser = commands.add_parser('add', help='a new key pair for a signer')
    add_parser.add_argument('keystore', type=Path)
    add_parser.add_argument('signer')
    add_parser.add_argument('role', choices=['gate', 'fusion', 'reviewer'])
    rotate_parser = commands.add_parser('rotate', help="a new key for a signer's role")
    rotate_parser.add_argument('keystore', type=Path)
    rotate_parser.add_argument('signer')
    retire_parser = commands.add_parser('retire', help='verifiers refuse this key from now on')
    retire_parser.add_argument('keystore', type=Path)
    retire_parser.add_argument('key_id')
    list_parser = commands.add_parser('list', help='the keys of a keystore')
    list_parser.add_argument('keystore', type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == 'init':
            print(init(args.store_config, args.reviewer or ['staff']))
        elif args.command == 'add':
            record = add_key(args.keystore, args.signer, args.role)
            print(f'{record.key_id}: new {record.role} key of {record.signer}')
        elif args.command == 'rotate':
            print(rotate(args.keystore, args.signer))
        elif args.command == 'retire':
            retire_key(args.keystore, args.key_id)
            print(f'{args.key_id}: retired')
        else:
            for key in read_manifest(args.keystore / MANIFEST):
                print(f'{key.key_id}\t{key.signer}\t{key.role}\t{key.created}'
                      + ('\tretired' if key.retired else ''))
    except (KeystoreError, StoreConfigError) as error:
        print(f'jwo_keys: {error}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
