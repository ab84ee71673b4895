"""The deployment's trail signing key: an Ed25519 private key in a PEM file, and the key ring
of the public keys it has signed with.

`govshare up` creates one (mode 0600) on first start when the configured file does not exist,
so the embedded default needs no set-up; a real deployment provisions its own and pins the
verifier key (`govshare trail-key --vkey`) wherever trails are verified.

`govshare trail-key --rotate` replaces the private key and records every public key in the
ring beside it (`<key file stem>.ring.json`: name, key id, public key, valid from, retired at),
so checkpoints signed before a rotation keep verifying. The notary loads its key when it
starts: it signs with a new one once restarted.

Stage keys (audit/provenance.py): each stage that publishes to output topics signs with a key
of its own, `<stage>.pem` in the stage key directory (`var/stage-keys/`, mode 0600), whose public
key is `<stage>.pub` beside it. Verifiers read every `*.pub` there (a retired key kept under
another name still verifies what it signed) and never a private key. `govshare up` creates the
missing ones before any stage starts.
"""
from __future__ import annotations

import base64
import binascii
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
)

from audit import note
from events.signing import DepartmentKey, write_private_key
from audit import provenance
from audit import trail as tr
from audit.trail import Signer

RING_FORMAT = "govshare-trail-keys/1"


def load_or_create(path: Path) -> Signer:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new_key(path)
    return load(path)


def _write_new_key(path: Path) -> None:
    """A fresh key at `path`, which must not exist, readable by its owner only."""
    write_private_key(path, Ed25519PrivateKey.generate())


def load(path: Path) -> Signer:
    return Signer(_private(path))


def _private(path: Path) -> Ed25519PrivateKey:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"govshare: {path} is not an Ed25519 private key")
    return key


# -- stage keys ----------------------------------------------------------------------------

def stage_signer(directory: Path, stage: str) -> provenance.StageSigner:
    """The stage's key, created on first use; its public key is written beside it."""
    path = directory / f"{stage}.pem"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        _write_new_key(path)
    except FileExistsError:
        pass  # the usual case; or another process of this stage created it just now
    signer = provenance.StageSigner(stage, _private(path))
    public = directory / f"{stage}.pub"
    entry = {"stage": stage, "key_id": signer.key_id,
             "public_key": base64.b64encode(signer.public_key).decode()}
    if not public.exists() or json.loads(public.read_text()) != entry:
        _write_json(public, entry)
    return signer


def stage_ring(directory: Path) -> dict[str, bytes]:
    """Every stage public key of the deployment, by key id."""
    ring = {}
    for path in sorted(directory.glob("*.pub")):
        try:
            entry = json.loads(path.read_text())
            key = base64.b64decode(entry["public_key"], validate=True)
            if provenance.key_id(entry["stage"], key) != entry["key_id"]:
                raise ValueError(f"key {entry['key_id']} is not the id of its stage and public key")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"govshare: the stage key {path} is unreadable: {exc}") from None
        ring[entry["key_id"]] = key
    return ring


def stage_keys(directory: Path, stage: str | None, writers=None,
               ring: provenance.StageRing | None = None) -> provenance.StageKeys:
    """What a stage process holds: its own key (`stage` None: none, for a verifier or the
    projector) and every stage's public key, read again when a record names one not known yet;
    `writers`: which stage writes which topic (the System's); `ring`: the process's, where
    several stages share one (stage_ring_of)."""
    signers = {stage: stage_signer(directory, stage)} if stage is not None else {}
    return provenance.StageKeys(ring or stage_ring_of(directory, writers), signers)


def stage_ring_of(directory: Path, writers=None, *, shared: bool = False) -> provenance.StageRing:
    """Every stage public key of the deployment (read again when a record names one not known)."""
    return provenance.StageRing(stage_ring(directory), load=lambda: stage_ring(directory), writers=writers,
                                shared=shared)


def prepare(trail_key_file: Path, stage_key_dir: Path, department_key_dir: Path, stages: Iterable[str]) -> None:
    """Every key the stages use (`stages`: those that sign), created before any starts: none
    meets a key not made yet; and a platform administrator's key where the deployment
    provisioned none, so that the first directory registers it and `govshare keygen` can
    register the keys of departments."""
    load_or_create(trail_key_file)
    for stage in stages:
        stage_signer(stage_key_dir, stage)
    admin = department_key_dir / f"{PLATFORM_ADMIN}.pem"
    if not admin.with_suffix(".pub").exists():
        DepartmentKey.generate(PLATFORM_ADMIN).write(admin)


# The platform administrator's department id in policies/departments.toml.
PLATFORM_ADMIN = "platform-admin"


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

