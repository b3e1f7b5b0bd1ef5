"""`billing_ledger` lists and shows receipts and ledger entries of a store."""

import subprocess
import sys
from pathlib import Path

import pytest

from jwo_billing.billing import BillingCore, CartData
from jwo_billing.ledger import Ledger
from jwo_billing.ledger_cli import main
from jwo_billing.payments import SandboxProcessor
from jwo_billing.receipt import CartLine, format_minor
from jwo_billing.sessions import GateEventData, GateKind
from jwo_common.store_config import load_store_config

STORE = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
CONFIG = load_store_config(STORE)


@pytest.fixture
def ledger_path(tmp_path):
    path = tmp_path / 'ledger.sqlite3'
    ledger = Ledger(path, CONFIG.store.id)
    processor = SandboxProcessor(tmp_path / 'processor.sqlite3')
    core = BillingCore(ledger, processor, CONFIG)
    for session_id, token in [('s1', 'acct-1'), ('s2', 'decline-2'), ('s3', 'acct-3'),
                              ('s4', 'acct-4')]:
        core.on_gate_event(GateEventData(session_id, 'entry_1', GateKind.ENTRY, session_id,
                                         token, 1, '', 10), 10)
        core.on_cart(CartData(session_id, 1, (CartLine('GB-CRISPS-6', 3),
                                              CartLine('GB-MILK-1L', 2)), False, 11), 11)
    core.on_cart(CartData('s4', 2, (CartLine('GB-ALE-500', 1),), False, 12), 12)
    for session_id in ('s1', 's2', 's4'):
        core.on_gate_event(GateEventData(f'x{session_id}', 'exit_1', GateKind.EXIT, session_id,
                                         '', 1, '7', 20), 20)
    ledger.close()
    processor.close()
    return path


@pytest.mark.parametrize('amount_minor, currency, exponent, text', [
    (860, 'GBP', 2, '8.60 GBP'), (5, 'USD', 2, '0.05 USD'), (-1234, 'GBP', 2, '-12.34 GBP'),
    (500, 'JPY', 0, '500 JPY'), (1005, 'KWD', 3, '1.005 KWD')])
def test_money_is_formatted_without_floats(amount_minor, currency, exponent, text):
    assert format_minor(amount_minor, currency, exponent) == text


def test_receipts_lists_every_session_with_its_state(ledger_path, capsys):
    assert main([str(STORE), '--ledger', str(ledger_path), 'receipts']) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[:3] for row in rows] == [
        ['s1', 'captured', '8.60'], ['s2', 'declined', '8.60'], ['s3', 'shopping'],
        ['s4', 'held', '2.60']]
    assert 'cap_' in rows[0] and 'card declined' in rows[1]


def test_show_prints_the_receipt_and_the_ledger(ledger_path, capsys):
    assert main([str(STORE), '--ledger', str(ledger_path), 'show', 's1']) == 0
    out = capsys.readouterr().out
    assert 'receipt london_soho:s1:sale: captured, payment cap_' in out
    assert '3 x' in out and '6.30 GBP' in out
    assert 'subtotal 8.60 GBP, tax 1.05 GBP (included), total 8.60 GBP' in out
    keys = [line.split()[1] for line in out.split('ledger:\n')[1].splitlines()]
    assert keys == [f'london_soho:s1:{step}' for step in
                    ('open', 'authorized', 'cart:1', 'close', 'charge_intended', 'outcome')]


def test_staff_release_a_held_receipt_and_billing_charges_it(ledger_path, capsys):
    assert main([str(STORE), '--ledger', str(ledger_path), 'release', 's1', '--staff', 'x']) == 1
    assert capsys.readouterr().err == "error: session 's1' has no held receipt\n"
    assert main([str(STORE), '--ledger', str(ledger_path), 'release', 's4',
                 '--staff', 'staff-9']) == 0
    assert 'hold released by staff-9' in capsys.readouterr().out
    ledger = Ledger(ledger_path, CONFIG.store.id)
    processor = SandboxProcessor(ledger_path.parent / 'processor.sqlite3')
    assert BillingCore(ledger, processor, CONFIG).resolve_unfinished(now_ns=99) == []
    assert [c.amount_minor for c in processor.captures()] == [860, 260]
    ledger.close()
    processor.close()
    main([str(STORE), '--ledger', str(ledger_path), 'receipts'])
    assert capsys.readouterr().out.splitlines()[-1].split()[:3] == ['s4', 'captured', '2.60']


def test_unknown_session_and_missing_ledger_are_one_line_errors(ledger_path, tmp_path, capsys):
    assert main([str(STORE), '--ledger', str(ledger_path), 'show', 'nobody']) == 1
    assert capsys.readouterr().err == "error: no session 'nobody' in the ledger\n"
    assert main([str(STORE), '--ledger', str(tmp_path / 'none.sqlite3'), 'receipts']) == 1
    assert capsys.readouterr().err.strip().endswith('none.sqlite3: no ledger file')


def test_the_console_script_is_installed(ledger_path):
    script = Path(sys.executable).parent / 'billing_ledger'
    result = subprocess.run([str(script), str(STORE), '--ledger', str(ledger_path), 'receipts'],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'captured' in result.stdout
