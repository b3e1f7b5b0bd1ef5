"""Application-level signatures on the decisions that move money: gate events (open a
session, end it) and human-review decisions (change a cart, refund).

Anyone who can join the DDS domain can publish on any topic, and the Fast DDS of the PyPI
wheels has no security plugins, so every such decision carries an Ed25519 signature by
the device or reviewer that made it, with a nonce and the signer's time. A receiver acts
on a decision only if the key is in the store's keystore, is allowed to make that kind of
decision, is not retired, the signature covers exactly the fields it reads, the time is
within the window and the nonce is new.

Keystore layout (a folder named by the store config's `security.keystore`):
    keystore.yaml            public keys: key_id, signer, role, public_key (base64), created,
                             retired; every verifier reads this
    private/<key_id>.pem     private keys (PKCS#8, mode 0600); only on the signing device

Rotation: `jwo_keys rotate` adds a new key for a signer (signers use their newest key,
verifiers accept every key not retired), restart the signer, then `jwo_keys retire` the
old key; verifiers reload keystore.yaml when it changes.
"""

from __future__ import annotations

import base64
import enum
import json
import os
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                               Ed25519PublicKey)

MANIFEST = 'keystore.yaml'
PRIVATE_DIR = 'private'
# Who may sign what: the entry gate opens sessions, fusion (which sees shoppers leave on
# the cameras) ends them, staff decide reviews.
ROLES = ('gate', 'fusion', 'reviewer')
SIGNATURE_BYTES = 64


class KeystoreError(ValueError):
    """A keystore that cannot be used; the message names the file and what is wrong."""


class Verdict(enum.Enum):
    ACCEPTED = 'accepted'
    UNSIGNED = 'unsigned'
    UNKNOWN_KEY = 'unknown key'
    WRONG_SIGNER = 'key not allowed to sign this'
    RETIRED_KEY = 'retired key'
    BAD_SIGNATURE = 'bad signature'
    EXPIRED = 'outside the time window'
    REPLAYED = 'replayed nonce'


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    signer: str             # the gate id, 'fusion', or the reviewer id
    role: str
    public_key: bytes       # 32 raw bytes
    created: str            # ISO 8601 UTC; the newest key of a signer signs
    retired: bool = False


@dataclass(frozen=True)
class SignatureData:
    key_id: str
    nonce: str
    signed_at_ns: int
    signature: bytes        # empty: unsigned


def canonical_bytes(kind: str, fields: Mapping[str, Any], key_id: str, nonce: str,
                    signed_at_ns: int) -> bytes:
    """What is signed: the decision's kind (so a signature on one kind of message is not
    valid on another) and every field a receiver acts on, as sorted compact JSON."""
    document = {'kind': kind, 'fields': fields, 'key_id': key_id, 'nonce': nonce,
                'signed_at_ns': signed_at_ns}
    return json.dumps(document, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False, allow_nan=False).encode()


class Keystore:
    """The public half of a keystore folder; reloads keystore.yaml when it changes."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._manifest = self.folder / MANIFEST
        self._mtime_ns: int | None = None
        self._keys: dict[str, KeyRecord] = {}
        self.reload_if_changed()

    def reload_if_changed(self) -> None:
        try:
            mtime_ns = self._manifest.stat().st_mtime_ns
        except FileNotFoundError:
            raise KeystoreError(f'{self._manifest}: no keystore here (create one with '
                                '`jwo_keys init`)') from None
        if mtime_ns != self._mtime_ns:
            self._keys = {record.key_id: record for record in read_manifest(self._manifest)}
            self._mtime_ns = mtime_ns

    def key(self, key_id: str) -> KeyRecord | None:
        return self._keys.get(key_id)

    def keys(self) -> list[KeyRecord]:
        return list(self._keys.values())

    def signer(self, signer: str, role: str) -> Signer:
        """A signer with the newest usable key of `signer` whose private key is here."""
        usable = [k for k in self._keys.values() if k.signer == signer and k.role == role
                  and not k.retired and private_key_path(self.folder, k.key_id).exists()]
        if not usable:
            raise KeystoreError(f'{self._manifest}: no {role} key of {signer!r} with its private '
                                f'key in {self.folder / PRIVATE_DIR} (create one with '
                                f'`jwo_keys add {self.folder} {signer} {role}`)')
        newest = max(usable, key=lambda k: k.created)
        return Signer(newest.key_id, load_private_key(self.folder, newest.key_id))


class Signer:
    def __init__(self, key_id: str, private_key: Ed25519PrivateKey):
        self.key_id = key_id
        self._private_key = private_key

    def sign(self, kind: str, fields: Mapping[str, Any], now_ns: int) -> SignatureData:
        nonce = secrets.token_hex(16)
        signature = self._private_key.sign(
            canonical_bytes(kind, fields, self.key_id, nonce, now_ns))
        return SignatureData(self.key_id, nonce, now_ns, signature)


class Verifier:
    """Checks signed decisions of one receiver; remembers nonces for the time window."""

    def __init__(self, keystore: Keystore, window_s: float):
        self._keystore = keystore
        self._window_ns = round(window_s * 1e9)
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()  # (key, nonce) -> signed

    def check(self, kind: str, fields: Mapping[str, Any], signature: SignatureData,
              allowed_role: str, allowed_signer: str | None, now_ns: int) -> Verdict:
        """`allowed_signer` None: any signer of the role (e.g. any reviewer)."""
        if not signature.signature:
            return Verdict.UNSIGNED
        self._keystore.reload_if_changed()
        key = self._keystore.key(signature.key_id)
        if key is None:
            return Verdict.UNKNOWN_KEY
        if key.role != allowed_role or allowed_signer not in (None, key.signer):
            return Verdict.WRONG_SIGNER
        if key.retired:
            return Verdict.RETIRED_KEY
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(
                signature.signature, canonical_bytes(kind, fields, signature.key_id,
                                                     signature.nonce, signature.signed_at_ns))
        except (InvalidSignature, ValueError):
            return Verdict.BAD_SIGNATURE
        if abs(now_ns - signature.signed_at_ns) > self._window_ns:
            return Verdict.EXPIRED
        self._forget_before(now_ns - self._window_ns)
        seen_key = (signature.key_id, signature.nonce)
        if seen_key in self._seen:
            return Verdict.REPLAYED
        self._seen[seen_key] = signature.signed_at_ns
        return Verdict.ACCEPTED

    def _forget_before(self, oldest_ns: int) -> None:
        """A nonce older than the window is refused as expired anyway; keep memory bounded."""
        for seen_key, signed_at_ns in list(self._seen.items()):
            if signed_at_ns < oldest_ns:
                del self._seen[seen_key]


def read_manifest(path: Path) -> list[KeyRecord]:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise KeystoreError(f'{path}: cannot read: {error}') from None
    if not isinstance(document, dict) or not isinstance(document.get('keys'), list):
        raise KeystoreError(f'{path}: keys: expected a list of keys')
    records = []
    for index, entry in enumerate(document['keys']):
        where = f'{path}: keys[{index}]'
        try:
            record = KeyRecord(key_id=str(entry['key_id']), signer=str(entry['signer']),
                               role=str(entry['role']),
                               public_key=base64.b64decode(entry['public_key'], validate=True),
                               created=str(entry['created']),
                               retired=bool(entry.get('retired', False)))
        except (KeyError, TypeError, ValueError) as error:
            raise KeystoreError(f'{where}: expected key_id, signer, role, public_key (base64) '
                                f'and created ({error})') from None
        if record.role not in ROLES:
            raise KeystoreError(f'{where}.role: {record.role!r} (expected one of {ROLES})')
        if len(record.public_key) != 32:
            raise KeystoreError(f'{where}.public_key: expected 32 bytes of Ed25519 key')
        records.append(record)
    duplicates = {r.key_id for r in records if sum(o.key_id == r.key_id for o in records) > 1}
    if duplicates:
        raise KeystoreError(f'{path}: keys: duplicate key_id {sorted(duplicates)}')
    return records


def write_manifest(folder: Path, records: list[KeyRecord]) -> None:
    document = {'keys': [{'key_id': r.key_id, 'signer': r.signer, 'role': r.role,
                          'public_key': base64.b64encode(r.public_key).decode(),
                          'created': r.created, 'retired': r.retired} for r in records]}
    temporary = folder / (MANIFEST + '.tmp')
    temporary.write_text('# jwo keystore: who may sign gate events and review decisions '
                         '(jwo_keys keeps this file)\n'
                         + yaml.safe_dump(document, sort_keys=False))
    os.replace(temporary, folder / MANIFEST)     # verifiers never read half a file


def private_key_path(folder: Path, key_id: str) -> Path:
    return folder / PRIVATE_DIR / f'{key_id}.pem'


def load_private_key(folder: Path, key_id: str) -> Ed25519PrivateKey:
    path = private_key_path(folder, key_id)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise KeystoreError(f'{path}: cannot load private key: {error}') from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeystoreError(f'{path}: not an Ed25519 private key')
    return key


def add_key(folder: Path, signer: str, role: str, now: datetime | None = None) -> KeyRecord:
    """Makes a new key pair for `signer`; the private key is written readable by its owner
    only. Creates the keystore if it does not exist."""
    if role not in ROLES:
        raise KeystoreError(f'role {role!r}: expected one of {ROLES}')
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PRIVATE_DIR).mkdir(mode=0o700, exist_ok=True)
    records = read_manifest(folder / MANIFEST) if (folder / MANIFEST).exists() else []
    created = (now or datetime.now(timezone.utc)).strftime('%Y-%m-%dT%H:%M:%S.%fZ')
    key_id = f'{signer}-{created[:19].replace("-", "").replace(":", "")}-{secrets.token_hex(3)}'
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    descriptor = os.open(private_key_path(folder, key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                         0o600)
    with os.fdopen(descriptor, 'wb') as file:
        file.write(pem)
    record = KeyRecord(key_id, signer, role, private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw), created)
    write_manifest(folder, records + [record])
    return record


def retire_key(folder: Path, key_id: str) -> None:
    records = read_manifest(folder / MANIFEST)
    if key_id not in {r.key_id for r in records}:
        raise KeystoreError(f'{folder / MANIFEST}: no key {key_id!r}')
    write_manifest(folder, [KeyRecord(r.key_id, r.signer, r.role, r.public_key, r.created,
                                      r.retired or r.key_id == key_id) for r in records])
