"""Outputs are govshare's own, provably: every message a stage puts on an output topic (accepted
events, rejections, dead letters, the engines' events, the notary's checkpoints) carries the
Ed25519 signature of the stage that made it, and every stage that reads an output topic checks
it before it acts, seals or applies anything.

Two headers, added last:

    ce_govstagekey  the signing key's id, `<stage>+<8 hex digits of SHA-256(public key)>`
    ce_govstagesig  base64 Ed25519 signature over SIGNED_DOMAIN, the key id and the digest

The digest (`digest`) is SHA-256 over every other header, in order, each name and value length
prefixed, and then the value's bytes: what a consumer reads is exactly what was signed, and a
header added, removed, changed or moved breaks it. The topic is not signed: where a record
travels is the broker's business (ACLs); what it says is the stage's.

Signed in one place (`StageSigner.sign`, called by the outbox every stage stages its outputs
through) and checked in one place (`StageRing.check`, called by the runtime before a stage
decodes a message of an output topic).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable, Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.errors import DecodeError
from events.publisher import Outgoing

SIGNATURE = "ce_govstagesig"
KEY_ID = "ce_govstagekey"
# Fixed forever: a signature over these bytes means "a govshare stage made this record".
SIGNED_DOMAIN = b"govshare-stage-output/1\n"
# How often an unknown key id makes a verifier read the deployment's public keys again (a stage
# started after it, or with a new key): a flood of foreign records reads them at most this often.
RELOAD_SECONDS = 1.0

Headers = Iterable[tuple[str, bytes | None]]


class NotGovshares(DecodeError):
    """A record on an output topic that no stage of this deployment signed: unsigned, signed
    with a key it does not know, or altered since. Set aside (parked), never applied."""


def _framed(data: bytes | None) -> bytes:
    if data is None:
        return b"\xff"  # absent, as against empty
    return b"\x00" + struct.pack(">I", len(data)) + data


def digest(headers: Headers, value: bytes | None) -> bytes:
    """What a stage signs of a message: every header but the signature's own, in order, then
    the value."""
    h = hashlib.sha256()
    for name, v in headers:
        if name in (SIGNATURE, KEY_ID):
            continue
        h.update(_framed(name.encode("utf-8")) + _framed(v))
    h.update(b"\x01" + _framed(value))
    return h.digest()


def _signed_bytes(key_id: str, headers: Headers, value: bytes | None) -> bytes:
    return SIGNED_DOMAIN + key_id.encode("utf-8") + b"\n" + digest(headers, value)


def key_id(stage: str, public_key: bytes) -> str:
    return f"{stage}+{hashlib.sha256(public_key).digest()[:4].hex()}"


@lru_cache(maxsize=1024)
def verifier(public: bytes) -> Ed25519PublicKey:
    """A loaded public key, once per key rather than once per record checked."""
    return Ed25519PublicKey.from_public_bytes(public)


def raw_public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class StageSigner:
    """A stage's private key: what it publishes, it signs."""
    stage: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return raw_public(self.private_key)

    @property
    def key_id(self) -> str:
        return self._key_id

    @cached_property
    def _key_id(self) -> str:
        # Once per signer, not per output: it hashes the public key.
        return key_id(self.stage, self.public_key)

    def sign(self, out: Outgoing) -> Outgoing:
        """The output with this stage's signature (a signature it came with, as a dead letter's
        copied headers may, is dropped first: only this stage vouches for it now)."""
        headers = [(k, v) for k, v in out.headers if k not in (SIGNATURE, KEY_ID)]
        kid = self._key_id
        signature = self.private_key.sign(_signed_bytes(kid, headers, out.value))
        headers += [(KEY_ID, kid.encode()), (SIGNATURE, base64.b64encode(signature))]
        return Outgoing(out.topic, out.key, out.value, headers)


@dataclass
class StageRing:
    """The public keys of the deployment's stages, by key id: what a verifier accepts. `load`
    reads them again where the deployment keeps them, when a record names a key not known.
    `writers`: which stages may write each topic (the System's, runtime/system.py); a record
    on a topic signed by a stage that does not write it is not that topic's."""
    keys: dict[str, bytes]
    load: Callable[[], Mapping[str, bytes]] | None = None
    writers: Mapping[str, frozenset[str]] | None = None
    _loaded_at: float = field(default=0.0, repr=False)

    def problem(self, topic: str, headers: Headers, value: bytes | None) -> str | None:
        """Why the message on `topic` is not a record of this deployment's stages, or None."""
        headers = list(headers)
        found = {k: v for k, v in headers if k in (SIGNATURE, KEY_ID)}
        if not found.get(SIGNATURE) or not found.get(KEY_ID):
            return f"unsigned: no {SIGNATURE} and {KEY_ID} headers"
        try:
            kid = found[KEY_ID].decode("utf-8")
            signature = base64.b64decode(found[SIGNATURE], validate=True)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            return f"the {KEY_ID} or {SIGNATURE} header is malformed"
        public = self._find(kid)
        if public is None:
            return f"signed with key {kid[:80]!r}, which is none of this deployment's stage keys"
        stage = kid.partition("+")[0]
        if self.writers is not None and stage not in self.writers.get(topic, ()):
            return (f"signed by the {stage} stage, which does not write {topic[:200]} (a record "
                    f"replayed onto a topic it was not produced for)")
        try:
            verifier(public).verify(signature, _signed_bytes(kid, headers, value))
        except (InvalidSignature, ValueError):
            return f"the signature of key {kid} does not verify: altered, or not made by that stage"
        return None

    def check(self, topic: str, headers: Headers, value: bytes | None) -> None:
        problem = self.problem(topic, headers, value)
        if problem is not None:
            raise NotGovshares(f"not govshare's: {problem}")

    def _find(self, kid: str) -> bytes | None:
        if kid not in self.keys and self.load is not None and time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self._loaded_at = time.monotonic()
            self.keys = dict(self.load())
        return self.keys.get(kid)


@dataclass
class StageKeys:
    """What a stage process holds: its own private key (none for the projector) and the ring
    every stage's output is checked against."""
    ring: StageRing
    signers: dict[str, StageSigner] = field(default_factory=dict)

    def signer(self, stage: str) -> StageSigner:
        try:
            return self.signers[stage]
        except KeyError:
            raise LookupError(f"no signing key for stage {stage!r} in this process") from None

    @classmethod
    def generated(cls, stages: Iterable[str], writers: Mapping[str, frozenset[str]] | None = None) -> StageKeys:
        """Fresh keys held in memory, for every stage that signs: a test's or a benchmark's
        deployment (runtime.system.System.signing_stages and writers)."""
        signers = {s: StageSigner(s, Ed25519PrivateKey.generate()) for s in stages}
        return cls(StageRing({s.key_id: s.public_key for s in signers.values()}, writers=writers), signers)
