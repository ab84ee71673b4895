"""The deployment's trail signing key: an Ed25519 private key in a PEM file, and the key ring
of the public keys it has signed with.

`govshare up` creates one (mode 0600) on first start when the configured file does not exist,
so the embedded default needs no set-up; a real deployment provisions its own and pins the
verifier key (`govshare trail-key --vkey`) wherever trails are verified.

`govshare trail-key --rotate` replaces the private key and records every public key in the
ring beside it (`<key file stem>.ring.json`: name, key id, public key, valid from, retired at),
so checkpoints signed before a rotation keep verifying. The notary loads its key when it
starts: it signs with a new one once restarted.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from events import note
from events import trail as tr
from processors.notary import Signer

RING_FORMAT = "govshare-trail-keys/1"


def load_or_create(path: Path) -> Signer:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new_key(path)
    return load(path)


def _write_new_key(path: Path) -> None:
    """A fresh key at `path`, which must not exist, readable by its owner only."""
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load(path: Path) -> Signer:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"govshare: {path} is not an Ed25519 private key")
    return Signer(key)


def public_key_from(text: str) -> bytes:
    """A pinned public key given as base64 of the 32 raw bytes, or a file holding that."""
    text = _text_or_file(text)
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != note.ED25519_KEY_SIZE:
        raise SystemExit("govshare: a trail public key is 32 bytes, given as base64")
    return raw


def vkeys_from(text: str) -> list[tr.TrustedKey]:
    """Pinned verifier keys: one `<name>+<key id>+<base64 key>`, or a file of them, one a line."""
    try:
        return [tr.TrustedKey(key, name) for name, key in
                (note.parse_vkey(line) for line in _text_or_file(text).splitlines() if line.strip())]
    except note.NoteError as exc:
        raise SystemExit(f"govshare: {text}: {exc}") from None


def _text_or_file(text: str) -> str:
    candidate = Path(text)
    return candidate.read_text().strip() if candidate.is_file() else text


def ring_file(key_file: Path) -> Path:
    return key_file.with_suffix(".ring.json")


def read_ring(key_file: Path) -> list[dict]:
    """The key ring's entries, oldest first; none before the first rotation."""
    path = ring_file(key_file)
    if not path.exists():
        return []
    try:
        entries = json.loads(path.read_text())["keys"]
        for e in entries:
            if note.key_id(e["name"], base64.b64decode(e["public_key"])) != e["key_id"]:
                raise ValueError(f"key {e['key_id']} is not the id of its name and public key")
        return entries
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"govshare: the key ring {path} is unreadable: {exc}") from None


def _trusted(entry: dict) -> tr.TrustedKey:
    return tr.TrustedKey(base64.b64decode(entry["public_key"]), entry["name"])


def entry_vkey(entry: dict) -> str:
    key = _trusted(entry)
    return note.vkey(key.name, key.public_key)


def ring_keys(key_file: Path, origin: str) -> tr.Keys | None:
    """Every key the deployment signed with: the ring's and the current one; None if none."""
    trusted = [_trusted(e) for e in read_ring(key_file)]
    if key_file.exists():
        current = tr.TrustedKey(load(key_file).public_key, origin)
        trusted += [current] if current not in trusted else []
    return tr.Keys(tuple(trusted)) if trusted else None


def ring_entry(name: str, public_key: bytes, valid_from: datetime | None) -> dict:
    return {"name": name, "key_id": note.key_id(name, public_key),
            "public_key": base64.b64encode(public_key).decode(),
            "valid_from": valid_from.isoformat() if valid_from else None, "retired_at": None}


def rotate(key_file: Path, origin: str, now: datetime) -> tuple[Signer, Signer]:
    """A new signing key in place of the current one, whose public key the ring keeps (the
    private key is gone: nothing signs with a retired key again). Returns (old, new)."""
    old = load_or_create(key_file)
    entries = read_ring(key_file) or [ring_entry(origin, old.public_key, None)]
    for e in entries:
        if e["retired_at"] is None:
            e["retired_at"] = now.isoformat()
    fresh = key_file.with_suffix(".new.pem")
    fresh.unlink(missing_ok=True)
    _write_new_key(fresh)
    new = load(fresh)
    entries.append(ring_entry(origin, new.public_key, now))
    _write_json(ring_file(key_file), {"format": RING_FORMAT, "keys": entries})
    # The ring names the new key before the key file holds it: a crash in between leaves the
    # old key signing, and both verifying.
    os.replace(fresh, key_file)
    return old, new


def _write_json(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(temporary, path)


def public_key_text(signer: Signer) -> str:
    return base64.b64encode(signer.public_key).decode()

