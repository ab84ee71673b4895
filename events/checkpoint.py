"""The notary's event: a signed head of the audit trail (audit/trail.py says what it signs and
checks it). The trail's checkpoints are events like the others, on the trail topic."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from events.kinds import event_type


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
    key_id: str  # the C2SP key id, 8 hex digits (16 hex digits: signed before C2SP notes)
    signature: bytes
