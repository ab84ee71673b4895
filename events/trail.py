"""The audit trail's contract: what a trail record is, the signed checkpoint, and the offline
check of an inclusion proof.

Every message on an output topic (accepted event, rejection, dead letter) is one trail record.
Its canonical bytes are the stored envelope record (codec.encode_record) for an event and the
stored dead letter (codec.encode_dead_letter) otherwise; the leaf is RFC 9162's hash of them.
The notary sequences the records, chains them, and signs the Merkle tree head as a checkpoint
note in the style of C2SP tlog-checkpoint:

    <origin>\\n<tree size>\\n<base64 root hash>\\nchain <base64 chain head>\\ntime <RFC 3339>\\n

The signature is Ed25519 over those bytes.
"""
from __future__ import annotations

import base64
import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from events import deadletter, merkle
from events.codec import (
    DeadLetter,
    Event,
    decode_envelope,
    decode_message,
    encode_dead_letter,
    encode_record,
)
from events.errors import DecodeError
from events.registry import event_type
from events.rejection import EVENT_TYPE as REJECTED_TYPE


AGGREGATE = "trail"


class LeafKind(enum.StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    DEAD_LETTERED = "DEAD_LETTERED"


@dataclass(frozen=True, kw_only=True, slots=True)
class TrailLeaf:
    record_id: str
    kind: LeafKind
    leaf_hash: bytes


@event_type("TrailCheckpointed", schema="govshare.trail.TrailCheckpointed", aggregate=AGGREGATE)
@dataclass(frozen=True, kw_only=True, slots=True)
class TrailCheckpointed:
    """The notary appended records to the trail and signed the new tree head; from now on any
    change, removal, addition or reordering of what it covers is detectable."""
    origin: str
    previous_size: int
    tree_size: int
    leaves: tuple[TrailLeaf, ...]
    root_hash: bytes
    chain_head: bytes
    signed_at: datetime
    key_id: str
    signature: bytes

    def note(self) -> bytes:
        return checkpoint_note(self.origin, self.tree_size, self.root_hash, self.chain_head,
                               self.signed_at)


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
        # Only govshare writes output topics, so this is a bug or a foreign writer: the bytes
        # still enter the trail, as a dead letter, rather than vanish from it.
        letter = DeadLetter(id=where, source=where, reason=f"could not decode: {exc}", value=value,
                            headers=tuple(headers))
        return TrailRecord(LeafKind.DEAD_LETTERED, where, encode_dead_letter(letter), dead_letter=letter)
    kind = LeafKind.REJECTED if envelope.event_type == REJECTED_TYPE else LeafKind.ACCEPTED
    return TrailRecord(kind, str(envelope.event_id), encode_record(envelope, value or b""), event=event)


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace")


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def checkpoint_note(origin: str, tree_size: int, root_hash: bytes, chain_head: bytes,
                    signed_at: datetime) -> bytes:
    return (f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n"
            f"chain {base64.b64encode(chain_head).decode()}\ntime {_iso(signed_at)}\n").encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).digest()[:8].hex()


def signature_valid(public_key: bytes, note: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, note)
        return True
    except (InvalidSignature, ValueError):
        return False


def parse_note(note: bytes) -> dict[str, Any]:
    lines = note.decode().split("\n")
    extra = dict(line.split(" ", 1) for line in lines[3:] if line)
    return {"origin": lines[0], "tree_size": int(lines[1]), "root_hash": base64.b64decode(lines[2]),
            "chain_head": base64.b64decode(extra["chain"]), "time": extra["time"]}


def check_proof(proof: dict[str, Any], public_key: bytes) -> list[str]:
    """What is wrong with an inclusion proof (`govshare prove`), checked with nothing but the
    proof and the trail's public key; an empty list means the record is in the signed trail.

    Steps: the record's bytes hash to the leaf; RFC 9162 section 2.1.3.2 takes the leaf and
    audit path to the root; the signed note names that root and tree size; the signature is
    the pinned key's over the note.
    """
    problems = []
    record = base64.b64decode(proof["record"])
    leaf = merkle.leaf_hash(record)
    if leaf.hex() != proof["leaf_hash"]:
        problems.append("the record's bytes do not hash to the proof's leaf")
    cp = proof["checkpoint"]
    note = base64.b64decode(cp["note"])
    try:
        head = parse_note(note)
    except (ValueError, KeyError, IndexError):
        return problems + ["the checkpoint note is malformed"]
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    if head["tree_size"] != proof["tree_size"]:
        problems.append("the proof's tree size is not the signed one")
    if not merkle.verify_inclusion(leaf, proof["leaf_index"], head["tree_size"], path, head["root_hash"]):
        problems.append("the audit path does not lead from the record to the signed root")
    if cp["key_id"] != key_id(public_key):
        problems.append(f"signed with key {cp['key_id']}, not the pinned key {key_id(public_key)}")
    elif not signature_valid(public_key, note, base64.b64decode(cp["signature"])):
        problems.append("the checkpoint signature does not verify")
    return problems
