"""Signed submissions: every event a department publishes carries its Ed25519 signature, made
with a key the department directory holds for it, so that who acted is proven, not claimed
(GD-2008 Art. 31 身份认证; X-Road signs its members' messages the same way).

What is signed, the signing base, is the UTF-8 bytes of the compact JSON array

    ["govshare.submission.v1", ce_type, ce_source, ce_id, ce_subject, ce_govsequence, ce_time,
     department, person, role, hex SHA-256 of the message value]

with ce_time as govshare writes it (UTC, `Z`, microseconds only when there are some). It covers
who acts, on which subject at which position, when, and the payload's exact bytes; it leaves
out what govshare decides on acceptance (the policy judged under, recorded time, provider,
route), so the signature of a stored event verifies offline from the stored record alone.

Headers: `ce_govsignature` (base64 signature) and `ce_govkeyid` (the key's id: the first 16
bytes of SHA-256 of the raw public key, hex). The envelope keeps both (`signature`,
`signing_key`).

A system that publishes many events may sign them as a batch instead (`DepartmentKey.sign_batch`,
`govshare sign --batch N`): each event's leaf is SHA-256 of its signing base, the leaves are an
RFC 9162 Merkle tree, and the key signs once

    BATCH_DOMAIN, the key id, "\n", the batch size (8 bytes, big-endian), the tree's root

Each event's signature is then the batched form (BATCHED): the magic, that one signature, the
event's index and the batch size (8 bytes each), the root and the event's audit path. It
travels in the same header and field as a single signature, so the stored record carries the
proof and `verifies` checks it offline as it checks a single one; a reader checks the root's
signature once per batch (remembered) and each event with a few hashes. An event taken from its
batch, altered, or given another's place does not verify.

A department's private key is a PEM file its systems hold (`govshare keygen`); govshare keeps
only public keys, registered, and revoked, by events of the directory (events/directory.py).
"""
from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import json
import os
import struct
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from events import merkle
from events.codec import iso_utc
from events.envelope import Envelope
from events.registry import ce_type, kind_of

DOMAIN = "govshare.submission.v1"  # fixed forever: what a signature over the base means
# Where `govshare submit` (and any client of events.submission) finds the keys it signs with:
# a directory of `<department>.pem` files, one per department this system acts for.
SIGNING_KEYS_ENV = "GOVSHARE_SIGNING_KEYS"


# The public-key operations this process has made, by kind ("verify", "sign"): counted where
# they happen, every Ed25519 check and signature of govshare's passing through `Verifier` or
# `signed`, so that the benchmark reports them (each stage logs them as it stops) rather than
# estimating them.
OPERATIONS: collections.Counter[str] = collections.Counter()


def signed(private_key: Ed25519PrivateKey, data: bytes) -> bytes:
    """`private_key`'s signature of `data`, counted."""
    OPERATIONS["sign"] += 1
    return private_key.sign(data)


# Verified batch heads a key remembers (verify_once): far more than the batches in flight.
REMEMBERED = 4096


class Verifier:
    """An Ed25519 public key that checks signatures with libsodium (PyNaCl): about half the
    time of OpenSSL's check through `cryptography` here (62 against 122 µs), and every
    accepted event pays one. Raises `InvalidSignature` as `cryptography`'s key does."""
    __slots__ = ("_key", "_passed")

    def __init__(self, public: bytes):
        try:
            self._key = VerifyKey(public)
        except (CryptoError, TypeError) as exc:
            raise ValueError(f"not an Ed25519 public key: {exc}") from None
        self._passed: dict[tuple[bytes, bytes], None] = {}

    def verify(self, signature: bytes, data: bytes) -> None:
        OPERATIONS["verify"] += 1
        try:
            self._key.verify(data, signature)
        except (CryptoError, TypeError, ValueError) as exc:
            raise InvalidSignature(str(exc)) from None

    def verify_once(self, signature: bytes, data: bytes) -> None:
        """`verify`, remembering what passed: a batch's head (a department's, or a stage's) is
        checked once, however many of its records are read."""
        if (signature, data) in self._passed:
            return
        self.verify(signature, data)
        if len(self._passed) >= REMEMBERED:
            self._passed.clear()
        self._passed[(signature, data)] = None


@lru_cache(maxsize=1024)
def verifier(public: bytes) -> Verifier:
    """A loaded public key, once per key rather than once per signature checked."""
    return Verifier(public)


def raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def signing_base(envelope: Envelope, value: bytes) -> bytes:
    e = envelope
    return json.dumps(
        [DOMAIN, ce_type(kind_of(e.event_type)), e.source, e.cloudevent_id or str(e.event_id),
         e.aggregate_id, str(e.sequence), iso_utc(e.occurred_at), e.actor.department, e.actor.person,
         e.actor.role.value, hashlib.sha256(value).hexdigest()],
        ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).digest()[:16].hex()


def public_text(public_raw: bytes) -> str:
    """How a public key is written in the directory and in proofs: base64 of its 32 raw bytes."""
    return base64.b64encode(public_raw).decode("ascii")


def public_from_text(text: str) -> bytes:
    """The raw key a public_text stands for; ValueError with a sentence if it is none."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the public key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one {len(raw)}")
    return raw


def verifies(envelope: Envelope, value: bytes, public_raw: bytes) -> bool:
    """Whether the envelope's signature is the key's over the signing base: alone, or as one
    event of a batch the key signed (BATCHED)."""
    if envelope.signature is None:
        return False
    try:
        # A department's key loaded once (verifier), not once per submission checked.
        if len(envelope.signature) > SIGNATURE_BYTES and envelope.signature.startswith(BATCHED):
            return _in_batch(verifier(public_raw), envelope, value)
        verifier(public_raw).verify(envelope.signature, signing_base(envelope, value))
        return True
    except (InvalidSignature, ValueError):
        return False


# -- batches -------------------------------------------------------------------------------

# Fixed forever: what a signature over a batch head means, and how a batched signature starts.
# An Ed25519 signature is exactly 64 bytes and a batched one longer, so a single signature that
# happens to start with the magic is never read as a batch.
BATCH_DOMAIN = b"govshare.submission-batch.v1\n"
BATCHED = b"GSB1"
SIGNATURE_BYTES = 64
_PLACE = struct.Struct(">QQ")
_FIXED = len(BATCHED) + SIGNATURE_BYTES + _PLACE.size + 32
def leaf(envelope: Envelope, value: bytes) -> bytes:
    """An event's leaf in the batch its department signs."""
    return merkle.leaf_hash(hashlib.sha256(signing_base(envelope, value)).digest())


def batch_head(key_id: str, size: int, root: bytes) -> bytes:
    return BATCH_DOMAIN + key_id.encode("utf-8") + b"\n" + size.to_bytes(8, "big") + root


def _in_batch(key: Verifier, envelope: Envelope, value: bytes) -> bool:
    """Whether the event is a leaf of a batch `key` signed: its path leads to the root, and the
    root's head carries the key's signature (Verifier.verify_once)."""
    batched = envelope.signature
    if len(batched) < _FIXED or (len(batched) - _FIXED) % 32 or envelope.signing_key is None:
        return False
    signature = batched[len(BATCHED):len(BATCHED) + SIGNATURE_BYTES]
    index, size = _PLACE.unpack_from(batched, len(BATCHED) + SIGNATURE_BYTES)
    root = batched[_FIXED - 32:_FIXED]
    path = [batched[i:i + 32] for i in range(_FIXED, len(batched), 32)]
    if not (index < size and merkle.verify_inclusion(leaf(envelope, value), index, size, path, root)):
        return False
    key.verify_once(signature, batch_head(envelope.signing_key, size, root))  # InvalidSignature: False
    return True


def write_private_key(path: Path, key: Ed25519PrivateKey) -> None:
    """A private key as PEM at `path`, which must not exist (FileExistsError), readable by its
    owner only: the one way govshare writes a private key (trail, stage and department keys)."""
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


@dataclass(frozen=True)
class DepartmentKey:
    """One department's private key, as its systems hold it."""
    department: str
    private: Ed25519PrivateKey

    @cached_property
    def public_raw(self) -> bytes:
        return raw_public(self.private)

    @cached_property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def sign(self, envelope: Envelope, value: bytes) -> Envelope:
        """The envelope with this key's signature of it and `value` (the payload's bytes)."""
        unsigned = replace(envelope, signing_key=self.key_id, signature=None)
        return replace(unsigned, signature=signed(self.private, signing_base(unsigned, value)))

    def sign_batch(self, items: list[tuple[Envelope, bytes]]) -> list[Envelope]:
        """The envelopes (each with its payload's bytes) signed as one batch: one signature
        over the root of their leaves, each envelope carrying it with its place and path."""
        if not items:
            return []
        unsigned = [replace(envelope, signing_key=self.key_id, signature=None) for envelope, _ in items]
        leaves = [leaf(envelope, value) for envelope, (_, value) in zip(unsigned, items)]
        root, paths = merkle.all_paths(leaves)
        signature = signed(self.private, batch_head(self.key_id, len(items), root))
        return [replace(envelope, signature=BATCHED + signature + _PLACE.pack(i, len(items)) + root + b"".join(path))
                for i, (envelope, path) in enumerate(zip(unsigned, paths))]

    @classmethod
    def generate(cls, department: str) -> DepartmentKey:
        return cls(department, Ed25519PrivateKey.generate())

    def write(self, path: Path) -> None:
        """The private key at `path` (PEM, owner-only), which must not exist, and its public key
        beside it as `<stem>.pub` (base64 raw), the line to register."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private_key(path, self.private)
        path.with_suffix(".pub").write_text(public_text(self.public_raw) + "\n")

    @classmethod
    def read(cls, path: Path, department: str | None = None) -> DepartmentKey:
        """A key file; the department is the file's stem unless named. ValueError with a
        sentence for a file that is no Ed25519 private key."""
        try:
            key = load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 key")
        return cls(department or path.stem, key)


class Keystore:
    """The keys a publishing system signs with: one key for every line (`submit --key`), or
    `<department>.pem` files in a directory, by the acting department, read when first needed."""

    def __init__(self, directory: Path | None = None, single: DepartmentKey | None = None):
        self.directory, self.single = directory, single
        self._keys: dict[str, DepartmentKey | None] = {}

    @classmethod
    def from_environment(cls) -> Keystore:
        found = os.environ.get(SIGNING_KEYS_ENV)
        return cls(Path(found) if found else None)

    def for_department(self, department: str) -> DepartmentKey | None:
        if self.single is not None:
            return self.single
        if department not in self._keys:
            # Only a plain file name in the key directory: a department named "../x" or too long
            # for a file name has no key here (the validator answers for its name).
            plain = 0 < len(department) <= 100 and Path(department).name == department and department not in (".", "..")
            path = self.directory / f"{department}.pem" if self.directory and plain else None
            self._keys[department] = DepartmentKey.read(path, department) if path and path.is_file() else None
        return self._keys[department]
