"""`billing_ledger`: list and show a store's receipts and ledger from the command line.

    billing_ledger STORE_CONFIG receipts                       one line per session
    billing_ledger STORE_CONFIG show SESSION                   its receipt and ledger entries
    billing_ledger STORE_CONFIG release SESSION --staff ID     staff cleared a held receipt

The ledger is used while the billing node runs (SQLite WAL allows readers beside it, and
writes are serialised); after `release` the running node charges the receipt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from jwo_billing.billing import (ChargeStatus, ReceiptRecord, held_receipt_record,
                                 receipt_record, release_hold)
from jwo_billing.ledger import Ledger, open_store_ledger
from jwo_billing.receipt import format_minor
from jwo_common.store_config import SqliteLedger, load_store_config


def _receipt(ledger: Ledger, session_id: str) -> ReceiptRecord | None:
    return receipt_record(ledger, session_id) or held_receipt_record(ledger, session_id)


def _session_state(ledger: Ledger, session_id: str) -> str:
    record = _receipt(ledger, session_id)
    if record is not None and (record.status is not ChargeStatus.HELD or ledger.entry(
            session_id, 'hold_released') is None):
        return record.status.value
    session = ledger.session(session_id)
    return 'shopping' if session.closed_at_ns is None else 'charging'


def list_receipts(ledger: Ledger, currency: str, exponent: int) -> list[str]:
    lines = [f'{"session":<24} {"state":<10} {"total":>14}  reference']
    for session in ledger.sessions():
        record = _receipt(ledger, session.session_id)
        total = format_minor(record.receipt.total_minor, currency, exponent) if record else ''
        reference = (record.payment_reference or record.reason) if record else ''
        lines.append(f'{session.session_id:<24} {_session_state(ledger, session.session_id):<10} '
                     f'{total:>14}  {reference}')
    return lines


def show_session(ledger: Ledger, session_id: str, currency: str, exponent: int) -> list[str]:
    session = ledger.session(session_id)
    entries = ledger.entries(session_id)
    if session is None and not entries:
        raise LookupError(f'no session {session_id!r} in the ledger')
    lines = []
    if session is not None:
        lines.append(f'session {session_id}: account {session.account_token}, '
                     f'{_session_state(ledger, session_id)}')
    record = _receipt(ledger, session_id) if session is not None else None
    if record is not None:
        def money(amount_minor: int) -> str:
            return format_minor(amount_minor, currency, exponent)
        receipt = record.receipt
        lines.append(f'receipt {record.receipt_id}: {record.status.value}'
                     + (f' ({record.reason})' if record.reason else '')
                     + (f', payment {record.payment_reference}' if record.payment_reference
                        else ''))
        for line in receipt.lines:
            lines.append(f'  {line.quantity:>3} x {line.name:<32} '
                         f'{money(line.unit_price_minor):>12} {money(line.line_total_minor):>12}'
                         f'  tax {money(line.tax_minor)} ({line.tax_class})')
        included = 'included' if receipt.prices_include_tax else 'added'
        lines.append(f'  subtotal {money(receipt.subtotal_minor)}, tax {money(receipt.tax_minor)} '
                     f'({included}), total {money(receipt.total_minor)}')
    lines.append('ledger:')
    for entry in entries:
        lines.append(f'  {entry.sequence:>6} {entry.idempotency_key:<48} '
                     f'{json.dumps(entry.detail, sort_keys=True)}')
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog='billing_ledger', description=__doc__.splitlines()[0])
    parser.add_argument('store_config', type=Path)
    parser.add_argument('--ledger', type=Path, help='SQLite ledger file (default: the store '
                        "config's billing.ledger.path)")
    commands = parser.add_subparsers(dest='command', required=True)
    commands.add_parser('receipts', help='one line per session')
    show = commands.add_parser('show', help="a session's receipt and ledger entries")
    show.add_argument('session_id')
    release = commands.add_parser('release', help='staff checked a held receipt (e.g. the '
                                  "shopper's age): let the billing node charge it")
    release.add_argument('session_id')
    release.add_argument('--staff', required=True, help='id of the staff member who checked')
    args = parser.parse_args(argv)
    try:
        config = load_store_config(args.store_config)
        if args.ledger is not None and not args.ledger.is_file():
            raise FileNotFoundError(f'{args.ledger}: no ledger file')
        if args.ledger is None and isinstance(config.billing.ledger, SqliteLedger) and \
                not config.resolve_path(config.billing.ledger.path).is_file():
            raise FileNotFoundError(f'{config.resolve_path(config.billing.ledger.path)}: '
                                    'no ledger file')
        ledger = open_store_ledger(config, args.ledger)
        currency, exponent = config.store.currency, config.store.currency_exponent
        try:
            if args.command == 'receipts':
                lines = list_receipts(ledger, currency, exponent)
            elif args.command == 'show':
                lines = show_session(ledger, args.session_id, currency, exponent)
            else:
                release_hold(ledger, args.session_id, args.staff, time.time_ns())
                lines = [f'session {args.session_id}: hold released by {args.staff}; the '
                         'billing node charges it']
        finally:
            ledger.close()
    except (ValueError, FileNotFoundError, LookupError) as error:
        print(f'error: {error.args[0] if isinstance(error, LookupError) else error}',
              file=sys.stderr)
        return 1
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
