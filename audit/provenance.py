"""Outputs are govshare's own, provably: every message a stage puts on an output topic (accepted
events, rejections, dead letters, the engines' events, the notary's checkpoints) is signed by
the stage that made it, and every stage that reads an output topic checks it before it acts,
seals or applies anything.

A stage signs a whole batch of outputs at once (`StageSigner.sign_batch`, called by the outbox
every stage stages its outputs through): each record's digest is a leaf of an RFC 9162 Merkle
tree, and the stage's Ed25519 key signs the tree's root once. Three headers, added last:

    ce_govstagekey    the signing key's id, `<stage>+<8 hex digits of SHA-256(public key)>`
    ce_govstagebatch  `<index>/<size>;<base64 root>;<base64 hash>,<base64 hash>,...`: where the
                      record stands in its batch, and its audit path to the root
    ce_govstagesig    base64 Ed25519 signature over BATCH_DOMAIN, the key id, the size and root

A reader (`StageRing.check`, called by the runtime before a stage decodes a message of an
output topic) hashes the record, follows its path to the root, and checks the root's signature
once per batch (remembered): a few SHA-256 hashes a record instead of a public-key operation.
A record altered, forged, taken from another batch, or moved behind a later record of its own
batch on a partition does not pass; nor does a genuine record on a topic its stage does not
write (`writers`, the System's).

The digest (`digest`) is SHA-256 over every other header, in order, each name and value length
prefixed, and then the value's bytes: what a consumer reads is exactly what was signed, and a
header added, removed, changed or moved breaks it. The topic is not signed: where a record
travels is the broker's business (ACLs) and the System's (`writers`); what it says is the
stage's. Records signed one by one (SIGNED_DOMAIN, without a batch header: the releases before
batches, and a previous release's outputs signed on adoption) still verify.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events import merkle
from events.errors import DecodeError
from events.signing import raw_public, signed, verifier
from events.publisher import Outgoing

SIGNATURE = "ce_govstagesig"
KEY_ID = "ce_govstagekey"
BATCH = "ce_govstagebatch"
PROVENANCE = (SIGNATURE, KEY_ID, BATCH)
# Fixed forever: a signature over these bytes means "a govshare stage made this record".
SIGNED_DOMAIN = b"govshare-stage-output/1\n"
# ... and over these, "a govshare stage made the batch of records under this Merkle root".
BATCH_DOMAIN = b"govshare-stage-batch/2\n"
# Verified batch roots a reader remembers: far more than the batches in flight.
REMEMBERED = 4096
# Batches whose proven nodes a ring keeps (a batch's records reach a reader close together; one
# evicted is proven again from its root, its signature still remembered by the key).
TREES = 64
# How often an unknown key id makes a verifier read the deployment's public keys again (a stage
# started after it, or with a new key): a flood of foreign records reads them at most this often.
RELOAD_SECONDS = 1.0

Headers = Iterable[tuple[str, bytes | None]]


class NotGovshares(DecodeError):
    """A record on an output topic that no stage of this deployment signed: unsigned, signed
    with a key it does not know, or altered since. Set aside (parked), never applied."""


_LENGTH = struct.Struct(">I").pack
# Header names framed once: a deployment's records carry a few dozen names. Bounded, since a
# foreign record may carry any (those are framed each time).
_NAMES: dict[str, bytes] = {}


def _framed(data: bytes | None) -> bytes:
    if data is None:
        return b"\xff"  # absent, as against empty
    return b"\x00" + _LENGTH(len(data)) + data


def _name(name: str) -> bytes:
    framed = _NAMES.get(name)
    if framed is None:
        framed = _framed(name.encode("utf-8"))
        if len(_NAMES) < 512:
            _NAMES[name] = framed
    return framed


def digest(headers: Headers, value: bytes | None) -> bytes:
    """What a stage signs of a message: every header but the signature's own, in order, then
    the value. (The framed parts are joined and hashed at once: each record pays this once a
    stage that reads it, so it is written for speed; the bytes hashed are those of _framed.)"""
    parts = []
    for name, v in headers:
        if name in PROVENANCE:
            continue
        parts.append(_name(name))
        if v is None:
            parts.append(b"\xff")
        else:
            parts += (b"\x00", _LENGTH(len(v)), v)
    parts.append(b"\x01")
    parts.append(_framed(value))
    return hashlib.sha256(b"".join(parts)).digest()


def _signed_bytes(key_id: str, headers: Headers, value: bytes | None) -> bytes:
    return SIGNED_DOMAIN + key_id.encode("utf-8") + b"\n" + digest(headers, value)


def _batch_bytes(key_id: str, size: int, root: bytes) -> bytes:
    return BATCH_DOMAIN + key_id.encode("utf-8") + b"\n" + struct.pack(">Q", size) + root


def key_id(stage: str, public_key: bytes) -> str:
    return f"{stage}+{hashlib.sha256(public_key).digest()[:4].hex()}"


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
        """One output signed alone (SIGNED_DOMAIN): what a previous release's outputs are
        signed with when a database is adopted. A signature it came with, as a dead letter's
        copied headers may carry, is dropped first: only this stage vouches for it now."""
        headers = [(k, v) for k, v in out.headers if k not in PROVENANCE]
        kid = self._key_id
        signature = signed(self.private_key, _signed_bytes(kid, headers, out.value))
        headers += [(KEY_ID, kid.encode()), (SIGNATURE, base64.b64encode(signature))]
        return Outgoing(out.topic, out.key, out.value, headers)

    def sign_batch(self, outs: list[Outgoing]) -> list[Outgoing]:
        """A batch of outputs under one signature: each record's digest a leaf of a Merkle tree
        whose root the stage signs once; each record carries its place and audit path."""
        if not outs:
            return []
        bare = [[(k, v) for k, v in out.headers if k not in PROVENANCE] for out in outs]
        leaves = [merkle.leaf_hash(digest(h, out.value)) for h, out in zip(bare, outs)]
        root, paths = merkle.all_paths(leaves)
        kid, size = self._key_id, len(outs)
        signature = base64.b64encode(signed(self.private_key, _batch_bytes(kid, size, root)))
        head, key = base64.b64encode(root).decode(), kid.encode()
        return [Outgoing(out.topic, out.key, out.value, h + [
            (KEY_ID, key), (BATCH, f"{i}/{size};{head};{','.join(base64.b64encode(p).decode() for p in path)}".encode()),
            (SIGNATURE, signature)]) for i, (out, h, path) in enumerate(zip(outs, bare, paths))]


@dataclass
class StageRing:
    """The public keys of the deployment's stages, by key id: what a verifier accepts. `load`
    reads them again where the deployment keeps them, when a record names a key not known.
    `writers`: which stages may write each topic (the System's, runtime/system.py); a record
    on a topic signed by a stage that does not write it is not that topic's."""
    keys: dict[str, bytes]
    load: Callable[[], Mapping[str, bytes]] | None = None
    writers: Mapping[str, frozenset[str]] | None = None
    # One ring for the stages of one process (infra/stages.py), which are handed the same
    # message objects: a message that passed is remembered (by identity, so only that very
    # message) and not checked again for the next stage that reads it.
    shared: bool = False
    _loaded_at: float = field(default=0.0, repr=False)
    # Signed batches read, each with where its records were last read (the order check); the
    # signatures themselves are remembered by the key (Verifier.verify_once).
    _verified: dict = field(default_factory=dict, repr=False)
    # The batches being read, each with the nodes of its tree its records proved so far: a
    # record of a batch costs its leaf's hash and a node or two, not a whole audit path.
    _trees: dict = field(default_factory=dict, repr=False)
    _passed: dict = field(default_factory=dict, repr=False)

    def problem(self, topic: str, headers: Headers, value: bytes | None, *,
                where: tuple[int, int] | None = None) -> str | None:
        """Why the message on `topic` is not a record of this deployment's stages, or None;
        `where`: its partition and offset, for the order of a batch's records."""
        headers = list(headers)
        found = {k: v for k, v in headers if k in PROVENANCE}
        if not found.get(SIGNATURE) or not found.get(KEY_ID):
            return f"unsigned: no {SIGNATURE} and {KEY_ID} headers"
        try:
            kid = found[KEY_ID].decode("utf-8")
            signature = _base64(found[SIGNATURE])
            batch = _batch(found[BATCH]) if found.get(BATCH) else None
        except (UnicodeDecodeError, binascii.Error, ValueError):
            return f"the {KEY_ID}, {BATCH} or {SIGNATURE} header is malformed"
        public = self._find(kid)
        if public is None:
            return f"signed with key {kid[:80]!r}, which is none of this deployment's stage keys"
        stage = kid.partition("+")[0]
        if self.writers is not None and stage not in self.writers.get(topic, ()):
            return (f"signed by the {stage} stage, which does not write {topic[:200]} (a record "
                    f"replayed onto a topic it was not produced for)")
        if batch is None:
            return self._one(kid, public, signature, headers, value)
        return self._in_batch(kid, public, signature, batch, headers, value, topic, where)

    def _one(self, kid: str, public: bytes, signature: bytes, headers: list, value: bytes | None) -> str | None:
        try:
            verifier(public).verify(signature, _signed_bytes(kid, headers, value))
        except (InvalidSignature, ValueError):
            return f"the signature of key {kid} does not verify: altered, or not made by that stage"
        return None

    def _in_batch(self, kid: str, public: bytes, signature: bytes, batch: tuple, headers: list,
                  value: bytes | None, topic: str, where: tuple[int, int] | None) -> str | None:
        index, size, root, path = batch
        signed = (kid, size, root, signature)
        tree = self._trees.get(signed)
        if tree is None:
            # The root is vouched for first: only then do nodes proven under it count.
            try:
                verifier(public).verify_once(signature, _batch_bytes(kid, size, root))
            except (InvalidSignature, ValueError):
                return f"the signature of key {kid} does not verify over its batch: altered, or not made by that stage"
            if len(self._trees) >= TREES:
                del self._trees[next(iter(self._trees))]  # the batch first read longest ago
            tree = self._trees[signed] = merkle.ProvenTree(size, root)
        if not tree.includes(merkle.leaf_hash(digest(headers, value)), index, path, _base64):
            return f"the record is not leaf {index} of the batch of {size} its key {kid} signed: altered, or moved"
        if signed not in self._verified:
            if len(self._verified) >= REMEMBERED:
                self._verified.clear()
            self._verified[signed] = {}
        if where is not None:
            # A batch's records reach a partition in their order: a record read after a later
            # one of its batch was put out of its place (a redelivery reads at or below it).
            partition, offset = where
            seen = self._verified[signed].get((topic, partition))
            if seen is not None and offset > seen[0] and index < seen[1]:
                return f"leaf {index} of a batch arrived after leaf {seen[1]} of it: the records were reordered"
            if seen is None or offset > seen[0]:
                self._verified[signed][(topic, partition)] = (offset, index)
        return None

    def check(self, topic: str, headers: Headers, value: bytes | None, *,
              where: tuple[int, int] | None = None) -> None:
        if self.shared:
            seen = self._passed.pop((id(headers), id(value)), None)
            if seen is not None and seen[0] is headers and seen[1] is value:
                return  # the same message object, checked for another stage of the process
        problem = self.problem(topic, headers, value, where=where)
        if problem is not None:
            raise NotGovshares(f"not govshare's: {problem}")
        if self.shared:
            if len(self._passed) >= REMEMBERED:
                self._passed.clear()  # read by one stage only: forgotten, at worst checked again
            self._passed[(id(headers), id(value))] = (headers, value)

    def _find(self, kid: str) -> bytes | None:
        if kid not in self.keys and self.load is not None and time.monotonic() - self._loaded_at > RELOAD_SECONDS:
            self._loaded_at = time.monotonic()
            self.keys = dict(self.load())
        return self.keys.get(kid)


def _batch(text: bytes) -> tuple[int, int, bytes, list[bytes]]:
    """A ce_govstagebatch header: index, size, root and audit path (its hashes in base64, read
    only as far as a proof needs them: merkle.ProvenTree)."""
    place, root, path = text.split(b";")
    index, size = (int(n) for n in place.split(b"/"))
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} of a batch of {size}")
    return index, size, _base64(root), [h for h in path.split(b",") if h]


def _base64(text: bytes) -> bytes:
    """Strict base64 (as b64decode with validate=True), without its conversions: a record's
    audit path is a dozen of these."""
    return binascii.a2b_base64(text, strict_mode=True)


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
