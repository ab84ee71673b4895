"""The audit trail's contract: what a trail record is, the signed checkpoint, and the offline
checks of an inclusion proof and of a consistency proof.

Every message on an output topic (accepted event, rejection, dead letter) is one trail record.
Its canonical bytes are the stored envelope record (codec.encode_record) for an event and the
stored dead letter (codec.encode_dead_letter) otherwise; the leaf is RFC 9162's hash of them.
The notary sequences the records, chains them, and signs the Merkle tree head as a C2SP
tlog-checkpoint (https://c2sp.org/tlog-checkpoint) whose two extension lines carry the chain
head and the signing time:

    <origin>\\n<tree size>\\n<base64 root hash>\\nchain <base64 chain head>\\ntime <RFC 3339>\\n

The signature is Ed25519 over those bytes, and the checkpoint travels as a C2SP signed note
(audit/note.py) under the key name <origin>.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit import note
from events import merkle
from events import deadletter, signing
# The notary's event is defined with the contract (events/checkpoint.py); named here too.
from events.checkpoint import AGGREGATE, LeafKind, TrailCheckpointed, TrailLeaf  # noqa: F401
from events.codec import (
    DeadLetter,
    Event,
    decode_envelope,
    decode_dead_letter,
    decode_message,
    decode_record,
    encode_dead_letter,
    encode_record,
)
from events.errors import DecodeError, EventError
from events.rejection import EVENT_TYPE as REJECTED_TYPE


@dataclass(frozen=True)
class Signer:
    """The deployment's trail key, which signs checkpoints (audit/keys.py keeps it in a file)."""
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, body: bytes) -> bytes:
        return signing.signed(self.private_key, body)


def note_of(cp: TrailCheckpointed) -> bytes:
    """The checkpoint's body, as the notary signed it."""
    return checkpoint_note(cp.origin, cp.tree_size, cp.root_hash, cp.chain_head, cp.signed_at)


def checkpoint_of(cp: TrailCheckpointed) -> Checkpoint:
    """The checkpoint as kept or exchanged: its body, head and signature."""
    return stored_checkpoint(cp.origin, note_of(cp), cp.key_id, cp.signature)


@dataclass(frozen=True, slots=True)
class TrailRecord:
    """One output message as the trail sees it: what it is, its id and its canonical bytes."""
    kind: LeafKind
    record_id: str
    record: bytes
    event: Event | None = None
    dead_letter: DeadLetter | None = None

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.record)


def trail_record(topic: str, partition: int, offset: int, headers: list | None,
                 value: bytes | None, *, dead_letter_topic: str, with_payload: bool = True) -> TrailRecord:
    """The trail record of a message read from an output topic. Both the notary and the
    projector call this, so the bytes one signs are the bytes the other stores. The notary
    seals the record without decoding the payload (`with_payload=False`); the projector, which
    applies it, decodes it here, once."""
    where = f"{topic}/{partition}/{offset}"
    headers = list(headers or [])
    if topic == dead_letter_topic:
        h = {k: v for k, v in headers}
        letter = DeadLetter(id=_text(h.get(deadletter.ID)) or where,
                            source=_text(h.get(deadletter.SOURCE)) or where,
                            reason=_text(h.get(deadletter.REASON)), value=value,
                            headers=tuple(headers))
        return TrailRecord(LeafKind.DEAD_LETTERED, letter.id, encode_dead_letter(letter), dead_letter=letter)
    try:
        if with_payload:
            event = decode_message(headers, value)
            envelope = event.envelope
        else:
            envelope, _ = decode_envelope(headers)
            event = None
    except DecodeError as exc:
        # A stage signed it (a foreign writer's record is parked before this, runtime.loop.decoded),
        # so this is a bug: the bytes still enter the trail, as a dead letter, rather than vanish.
        letter = DeadLetter(id=where, source=where, reason=f"could not decode: {exc}", value=value,
                            headers=tuple(headers))
        return TrailRecord(LeafKind.DEAD_LETTERED, where, encode_dead_letter(letter), dead_letter=letter)
    kind = LeafKind.REJECTED if envelope.event_type == REJECTED_TYPE else LeafKind.ACCEPTED
    return TrailRecord(kind, str(envelope.event_id), encode_record(envelope, value or b""), event=event)


class Records:
    """The trail records the projector made, for the notary of the same process to seal: the two
    read the whole log over one consumer (infra/stages.py) and are handed the same message
    objects, so the record is decoded and encoded once, not once each. Keyed by the message
    object itself (a record is taken only for that very message, after the notary's own stage
    signature check of it); bounded, since the notary may meet a message first and make its own."""
    LIMIT = 8192  # a notary batch (2,000) behind the projector, with room

    def __init__(self) -> None:
        self._made: dict[int, tuple[Any, TrailRecord]] = {}

    def keep(self, message: Any, record: TrailRecord) -> None:
        if len(self._made) >= self.LIMIT:
            self._made.clear()
        self._made[id(message)] = (message, record)

    def take(self, message: Any) -> TrailRecord | None:
        found = self._made.pop(id(message), None)
        return found[1] if found is not None and found[0] is message else None


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def origin_of(prefix: str) -> str:
    """A deployment's trail origin, which is also its checkpoints' key name: one per topic prefix."""
    return f"govshare/{prefix}"


def checkpoint_note(origin: str, tree_size: int, root_hash: bytes, chain_head: bytes,
                    signed_at: datetime) -> bytes:
    """The checkpoint's body: the text the notary signs (a C2SP tlog-checkpoint)."""
    return (f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"
            f"chain {base64.b64encode(chain_head).decode()}\ntime {_iso(signed_at)}\n").encode()


def parse_note(body: bytes) -> dict[str, Any]:
    """The head a checkpoint body states; ValueError if it is no tlog-checkpoint."""
    lines = body.decode().split("\n")
    if len(lines) < 4 or lines[-1] or not all(lines[:-1]):
        raise ValueError("a checkpoint is three non-empty lines or more, each ending in a newline")
    size, root = lines[1], base64.b64decode(lines[2], validate=True)
    if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ValueError(f"the tree size {size!r} is not a decimal number")
    if len(root) != merkle.HASH_SIZE:
        raise ValueError("the root hash is not 32 bytes of base64")
    extra = dict(line.split(" ", 1) for line in lines[3:-1] if " " in line)
    chain = base64.b64decode(extra["chain"]) if "chain" in extra else None
    return {"origin": lines[0], "tree_size": int(size), "root_hash": root, "chain_head": chain,
            "time": extra.get("time")}


# Checkpoints signed before they were C2SP notes name their key by SHA-256(public key)[:8] in
# hex; their body is the same text, so only finding the key differs.
LEGACY_KEY_ID_HEX = 16


def legacy_key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).digest()[:LEGACY_KEY_ID_HEX // 2].hex()


def signature_valid(public_key: bytes, body: bytes, signature: bytes) -> bool:
    try:
        signing.verifier(public_key).verify(signature, body)
        return True
    except (InvalidSignature, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class TrustedKey:
    """A public key a verifier pins: from a verifier key (its name pinned too) or bare (any name)."""
    public_key: bytes
    name: str | None = None

    def matches(self, name: str, key_id: str) -> bool:
        if len(key_id) == LEGACY_KEY_ID_HEX:
            return key_id == legacy_key_id(self.public_key)
        return (self.name in (None, name) and note.valid_name(name)
                and key_id == note.key_id(name, self.public_key))


@dataclass(frozen=True)
class Keys:
    """Every key a verifier accepts (a key ring: the current key and those rotated out)."""
    trusted: tuple[TrustedKey, ...]

    @classmethod
    def of(cls, keys: Keys | bytes) -> Keys:
        return keys if isinstance(keys, Keys) else cls((TrustedKey(keys),))

    def find(self, name: str, key_id: str) -> bytes | None:
        return next((k.public_key for k in self.trusted if k.matches(name, key_id)), None)

    def problem(self, body: bytes, signatures: Sequence[note.Signature]) -> str | None:
        """What is wrong with the signatures on a body, or None. As C2SP asks, a signature by a
        key not pinned is ignored, one by a pinned key must verify, and one must be there."""
        known = [(s, self.find(s.name, s.key_id)) for s in signatures]
        known = [(s, key) for s, key in known if key is not None]
        if not known:
            named = ", ".join(s.key_id for s in signatures) or "no key"
            name = signatures[0].name if signatures else ""
            return f"signed with key {named}, not the pinned key ({self.pinned(name)})"
        for s, key in known:
            if not signature_valid(key, body, s.signature):
                return f"the signature of key {s.key_id} does not verify over the checkpoint"
        return None

    def pinned(self, name: str) -> str:
        """The pinned keys' ids; a bare key's under `name`, the name it was asked to sign as."""
        return ", ".join(_pinned_id(k, name) for k in self.trusted)


def _pinned_id(key: TrustedKey, name: str) -> str:
    name = key.name or name
    return note.key_id(name, key.public_key) if note.valid_name(name) else legacy_key_id(key.public_key)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed checkpoint as it is kept or exchanged: its body, head and signatures."""
    body: bytes
    signatures: tuple[note.Signature, ...]
    origin: str
    tree_size: int
    root_hash: bytes

    @classmethod
    def signed(cls, body: bytes, signatures: Sequence[note.Signature]) -> Checkpoint:
        head = parse_note(body)
        return cls(body, tuple(signatures), head["origin"], head["tree_size"], head["root_hash"])

    def signed_note(self, keys: Keys | None = None) -> str:
        """The C2SP signed note. A legacy signature is named by its C2SP key id, which the
        public key gives: `keys` must hold it."""
        return note.SignedNote(self.body.decode(), tuple(
            _c2sp(s, keys) for s in self.signatures)).encode()


def _c2sp(signature: note.Signature, keys: Keys | None) -> note.Signature:
    if len(signature.key_id) != LEGACY_KEY_ID_HEX:
        return signature
    public_key = keys.find(signature.name, signature.key_id) if keys else None
    if public_key is None:
        raise ValueError(f"the checkpoint was signed before C2SP notes by key {signature.key_id}, "
                         f"whose public key is not at hand to name it in a note")
    return note.Signature(signature.name, note.key_id(signature.name, public_key), signature.signature)


def stored_checkpoint(origin: str, body: bytes, key_id: str, signature: bytes) -> Checkpoint:
    """A checkpoint as the notary signed it (one signature, by the key named as its origin)."""
    return Checkpoint.signed(body, (note.Signature(origin, key_id, signature),))


def checkpoint_of_text(text: str) -> Checkpoint:
    """A kept checkpoint: a C2SP signed note (`govshare checkpoint`), or a JSON document
    holding one as `signed_note` or, written before notes, as note, key_id and signature
    (`govshare checkpoint --json`, an export's cover sheet, an inclusion proof)."""
    try:
        return checkpoint_of_json(json.loads(text))
    except json.JSONDecodeError:
        pass
    try:
        signed = note.parse(text)
        return Checkpoint.signed(signed.text.encode(), signed.signatures)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"not a signed checkpoint: {exc}") from None


def checkpoint_of_json(data: Any) -> Checkpoint:
    cp = data.get("checkpoint", data) if isinstance(data, dict) else data
    try:
        if "signed_note" in cp:
            signed = note.parse(cp["signed_note"])
            return Checkpoint.signed(signed.text.encode(), signed.signatures)
        body = base64.b64decode(cp["note"], validate=True)
        return stored_checkpoint(parse_note(body)["origin"], body, cp["key_id"],
                                 base64.b64decode(cp["signature"], validate=True))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"not a signed checkpoint (a signed note, or note, key_id and signature): "
                         f"{exc}") from None


def check_proof(proof: dict[str, Any], keys: Keys | bytes) -> list[str]:
    """What is wrong with an inclusion proof (`govshare prove`), checked with nothing but the
    proof and the trail's pinned keys; an empty list means the record is in the signed trail.

    Steps: the record's bytes hash to the leaf; RFC 9162 section 2.1.3.2 takes the leaf and
    audit path to the root; the signed note names that root and tree size; the signature is
    a pinned key's over the note.
    """
    record = base64.b64decode(proof["record"])
    problems = _label_problems(proof, record)
    leaf = merkle.leaf_hash(record)
    if leaf.hex() != proof["leaf_hash"]:
        problems.append("leaf_hash: the record's bytes do not hash to it")
    try:
        cp = checkpoint_of_json(proof["checkpoint"])
    except ValueError:
        return problems + ["checkpoint: the note is malformed"]
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    if cp.tree_size != proof["tree_size"]:
        problems.append(f"tree_size: the proof says {proof['tree_size']}, the signed checkpoint {cp.tree_size}")
    if not merkle.verify_inclusion(leaf, proof["leaf_index"], cp.tree_size, path, cp.root_hash):
        problems.append(f"leaf_index {proof['leaf_index']}: the audit path does not lead from the record at "
                        f"that leaf to the signed root of {cp.tree_size} records (a wrong leaf_index, "
                        f"audit_path, record or checkpoint)")
    signed = Keys.of(keys).problem(cp.body, cp.signatures)
    return problems + ([f"checkpoint: {signed}"] if signed else []) + _signer_problems(proof, record)


def record_identity(record: bytes) -> tuple[LeafKind, str] | None:
    """What a sealed record is and its id, read from its own bytes as `trail_record` wrote them
    (an event's envelope record, or a dead letter); None for bytes that are neither. A proof's
    labels are only claims: this is what it proves."""
    try:
        envelope, _ = decode_record(record)
    except _UNREADABLE:
        pass
    else:
        kind = LeafKind.REJECTED if envelope.event_type == REJECTED_TYPE else LeafKind.ACCEPTED
        return kind, str(envelope.event_id)
    try:
        return LeafKind.DEAD_LETTERED, decode_dead_letter(record).id
    except _UNREADABLE:
        return None


# What untrusted bytes can make the Avro reader raise: each means "not this kind of record".
_UNREADABLE = (EventError, EOFError, ValueError, IndexError, KeyError, TypeError, StopIteration,
               OverflowError, MemoryError, UnicodeDecodeError)


def _label_problems(proof: dict[str, Any], record: bytes) -> list[str]:
    """The proof's record_id and kind must be what the record's bytes say, so that a proof of
    one record cannot be relabelled as the proof of another."""
    found = record_identity(record)
    if found is None:
        return ["record: the bytes are neither an event record nor a dead letter"]
    kind, record_id = found
    problems = []
    if proof.get("record_id") != record_id:
        problems.append(f"record_id: the proof names {str(proof.get('record_id'))[:100]!r}, the record "
                        f"it proves is {record_id}")
    if proof.get("kind") != kind.value:
        problems.append(f"kind: the proof says {str(proof.get('kind'))[:40]!r}, the record is {kind.value}")
    return problems


def _signer_problems(proof: dict[str, Any], record: bytes) -> list[str]:
    """The submitting department's signature over the sealed event, checked with the public key
    the proof carries (the directory's, registered by the event it names)."""
    signer = proof.get("signer")
    if signer is None:
        return []
    try:
        envelope, payload = decode_record(record)
        public = signing.public_from_text(signer["public_key"] or "")
    except (EventError, ValueError, TypeError) as exc:
        return [f"the signer cannot be checked: {exc}"]
    if signing.key_id(public) != envelope.signing_key or signer["key_id"] != envelope.signing_key:
        return [f"the proof's public key is not key {envelope.signing_key}, which signed the record"]
    if envelope.actor.department != signer["department"]:
        return [f"the record was submitted by {envelope.actor.department}, not {signer['department']}"]
    if not signing.verifies(envelope, payload, public):
        return [f"the record's signature is not {signer['department']}'s key {envelope.signing_key}"]
    return []


def check_consistency(proof: dict[str, Any], keys: Keys | bytes) -> list[str]:
    """What is wrong with a consistency proof (`govshare prove-consistency`), checked with
    nothing but the proof and the pinned keys; an empty list means the new signed tree extends
    the old one (RFC 9162 section 2.1.4.2), so no record the old one covers was changed."""
    try:
        old, new = (checkpoint_of_text(proof[k]) for k in ("old_checkpoint", "new_checkpoint"))
        path = [base64.b64decode(h, validate=True) for h in proof["path"]]
        sizes = proof["old_size"], proof["new_size"]
    except (KeyError, TypeError, ValueError) as exc:
        return [f"not a consistency proof: {exc}"]
    problems = [f"the {which} checkpoint: {p}" for which, cp in (("old", old), ("new", new))
                if (p := Keys.of(keys).problem(cp.body, cp.signatures))]
    if sizes != (old.tree_size, new.tree_size):
        problems.append(f"the proof is for sizes {sizes[0]} -> {sizes[1]}, the checkpoints sign "
                        f"{old.tree_size} -> {new.tree_size}")
    if old.origin != new.origin:
        problems.append(f"the checkpoints are of two logs: {old.origin} and {new.origin}")
    if not _extends(old, new, path):
        problems.append(f"the new tree of {new.tree_size} records does not extend the old one of "
                        f"{old.tree_size}: a forked or rewritten history")
    return problems


def _extends(old: Checkpoint, new: Checkpoint, path: list[bytes]) -> bool:
    if old.tree_size == 0:  # the empty tree is a prefix of every tree
        return not path
    return merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, path)
