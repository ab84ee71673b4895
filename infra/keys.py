"""The deployment's trail signing key: an Ed25519 private key in a PEM file.

`govshare up` creates one (mode 0600) on first start when the configured file does not exist,
so the embedded default needs no set-up; a real deployment provisions its own and pins the
public key (`govshare trail-key`) wherever trails are verified.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from processors.notary import Signer


def load_or_create(path: Path) -> Signer:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return load(path)


def load(path: Path) -> Signer:
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"govshare: {path} is not an Ed25519 private key")
    return Signer(key)


def public_key_from(text: str) -> bytes:
    """A pinned public key given as base64 of the 32 raw bytes, or a file holding that."""
    candidate = Path(text)
    if candidate.exists():
        text = candidate.read_text().strip()
    raw = base64.b64decode(text)
    if len(raw) != 32:
        raise SystemExit("govshare: a trail public key is 32 bytes, given as base64")
    return raw


def public_key_text(signer: Signer) -> str:
    return base64.b64encode(signer.public_key).decode()

