"""Signed decisions: what a verifier accepts and refuses, keystore files and rotation."""

import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jwo_common.keys_cli import main as jwo_keys
from jwo_common.testing import store_config_copy
from jwo_common.signing import (MANIFEST, Keystore, KeystoreError, SignatureData, Signer,
                                Verdict, Verifier, add_key, private_key_path, retire_key)

LONDON = Path(__file__).resolve().parents[3] / 'config' / 'london' / 'store.yaml'
T_NS = 1_767_225_600 * 10**9
ENTRY = {'event_id': 'e1', 'gate_id': 'entry_1', 'kind': 0, 'account_token': 'acct-1'}


@pytest.fixture
def keystore(tmp_path):
    folder = tmp_path / 'keys'
    add_key(folder, 'entry_1', 'gate')
    add_key(folder, 'entry_2', 'gate')
    add_key(folder, 'staff', 'reviewer')
    return Keystore(folder)


def check(verifier, signed, fields=ENTRY, role='gate', signer='entry_1', now_ns=T_NS):
    return verifier.check('GateEvent', fields, signed, role, signer, now_ns)


def test_a_signed_decision_is_accepted_once(keystore):
    verifier = Verifier(keystore, 30.0)
    signed = keystore.signer('entry_1', 'gate').sign('GateEvent', ENTRY, T_NS)
    assert len(signed.signature) == 64
    assert check(verifier, signed, now_ns=T_NS + 10**9) == Verdict.ACCEPTED
    assert check(verifier, signed, now_ns=T_NS + 2 * 10**9) == Verdict.REPLAYED
    # A second decision of the same signer has its own nonce.
    again = keystore.signer('entry_1', 'gate').sign('GateEvent', ENTRY, T_NS)
    assert check(verifier, again) == Verdict.ACCEPTED


def test_what_is_refused_and_why(keystore):
    verifier = Verifier(keystore, 30.0)
    gate = keystore.signer('entry_1', 'gate')
    signed = gate.sign('GateEvent', ENTRY, T_NS)
    attacker = Signer(gate.key_id, Ed25519PrivateKey.generate())
    assert check(verifier, SignatureData('', '', 0, b'')) == Verdict.UNSIGNED
    assert check(verifier, attacker.sign('GateEvent', ENTRY, T_NS)) == Verdict.BAD_SIGNATURE
    assert check(verifier, Signer('made-up', Ed25519PrivateKey.generate()).sign(
        'GateEvent', ENTRY, T_NS)) == Verdict.UNKNOWN_KEY
    assert check(verifier, signed, fields={**ENTRY, 'account_token': 'acct-2'}) == \
        Verdict.BAD_SIGNATURE
    assert verifier.check('ReviewDecision', ENTRY, signed, 'gate', 'entry_1', T_NS) == \
        Verdict.BAD_SIGNATURE
    # Another gate's key, a reviewer's key: not allowed to open sessions at entry_1.
    assert check(verifier, keystore.signer('entry_2', 'gate').sign('GateEvent', ENTRY, T_NS)) \
        == Verdict.WRONG_SIGNER
    assert check(verifier, keystore.signer('staff', 'reviewer').sign('GateEvent', ENTRY, T_NS)) \
        == Verdict.WRONG_SIGNER
    assert check(verifier, signed, now_ns=T_NS + 31 * 10**9) == Verdict.EXPIRED
    assert check(verifier, signed, now_ns=T_NS - 31 * 10**9) == Verdict.EXPIRED
    # None of the refusals used up the nonce: the genuine message still goes through once.
    assert check(verifier, signed) == Verdict.ACCEPTED


def test_nonces_are_forgotten_once_expired(keystore):
    verifier = Verifier(keystore, 30.0)
    gate = keystore.signer('entry_1', 'gate')
    for second in range(100):
        assert check(verifier, gate.sign('GateEvent', ENTRY, T_NS + second * 10**9),
                     now_ns=T_NS + second * 10**9) == Verdict.ACCEPTED
    assert len(verifier._seen) <= 31


def test_rotation_new_key_signs_old_key_retired_verifiers_follow(keystore):
    verifier = Verifier(keystore, 30.0)
    old = keystore.signer('entry_1', 'gate')
    later = datetime.now(timezone.utc) + timedelta(seconds=1)
    new_record = add_key(keystore.folder, 'entry_1', 'gate', now=later)
    new = Keystore(keystore.folder).signer('entry_1', 'gate')
    assert new.key_id == new_record.key_id != old.key_id
    # Both keys are good until the old one is retired ...
    assert check(verifier, old.sign('GateEvent', ENTRY, T_NS)) == Verdict.ACCEPTED
    assert check(verifier, new.sign('GateEvent', ENTRY, T_NS)) == Verdict.ACCEPTED
    retire_key(keystore.folder, old.key_id)
    os.utime(keystore.folder / MANIFEST, ns=(T_NS, T_NS))   # a change the mtime must show
    # ... then a running verifier refuses it without a restart.
    assert check(verifier, old.sign('GateEvent', ENTRY, T_NS)) == Verdict.RETIRED_KEY
    assert check(verifier, new.sign('GateEvent', ENTRY, T_NS)) == Verdict.ACCEPTED


def test_private_keys_are_owner_only_and_a_verifier_needs_none(keystore, tmp_path):
    for record in keystore.keys():
        mode = stat.S_IMODE(private_key_path(keystore.folder, record.key_id).stat().st_mode)
        assert mode == 0o600
    public_only = tmp_path / 'verifier'
    public_only.mkdir()
    (public_only / MANIFEST).write_text((keystore.folder / MANIFEST).read_text())
    signed = keystore.signer('entry_1', 'gate').sign('GateEvent', ENTRY, T_NS)
    assert check(Verifier(Keystore(public_only), 30.0), signed) == Verdict.ACCEPTED
    with pytest.raises(KeystoreError, match='no gate key of .entry_1. with its private key'):
        Keystore(public_only).signer('entry_1', 'gate')


@pytest.mark.parametrize('manifest, complaint', [
    ('keys: 3\n', 'keys: expected a list'),
    ('keys: [{key_id: a, signer: s, role: gate, created: x}]\n', r'keys\[0\]: expected'),
    ('keys: [{key_id: a, signer: s, role: boss, public_key: '
     'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=, created: x}]\n', r'keys\[0\]\.role'),
    ('keys: [{key_id: a, signer: s, role: gate, public_key: AAAA, created: x}]\n',
     r'keys\[0\]\.public_key: expected 32 bytes'),
    (': : :\n', 'cannot read'),
])
def test_a_broken_keystore_names_the_file_and_field(tmp_path, manifest, complaint):
    (tmp_path / MANIFEST).write_text(manifest)
    with pytest.raises(KeystoreError, match=complaint) as error:
        Keystore(tmp_path)
    assert str(tmp_path / MANIFEST) in str(error.value)


def test_no_keystore_says_how_to_make_one(tmp_path):
    with pytest.raises(KeystoreError, match='jwo_keys init'):
        Keystore(tmp_path / 'nowhere')


def test_jwo_keys_init_makes_every_signer_of_a_store_once(tmp_path, capsys):
    config = store_config_copy(LONDON, tmp_path)
    assert jwo_keys(['init', str(config), '--reviewer', 'ana', '--reviewer', 'bo']) == 0
    keystore = Keystore(tmp_path / 'keys')
    assert sorted((k.signer, k.role) for k in keystore.keys()) == \
        [('ana', 'reviewer'), ('bo', 'reviewer'), ('entry_1', 'gate'), ('fusion', 'fusion')]
    before = (tmp_path / 'keys' / MANIFEST).read_text()
    assert jwo_keys(['init', str(config)]) == 0
    assert (tmp_path / 'keys' / MANIFEST).read_text() == before
    assert jwo_keys(['rotate', str(tmp_path / 'keys'), 'entry_1']) == 0
    assert 'then retire entry_1-' in capsys.readouterr().out
    assert jwo_keys(['rotate', str(tmp_path / 'keys'), 'nobody']) == 1
    assert "no key of 'nobody'" in capsys.readouterr().err
