"""The metadata every event carries, whatever its type (schemas/govshare.Envelope.avsc)."""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from events.errors import PayloadMismatch


class Role(enum.StrEnum):
    PROVIDER = "PROVIDER"
    USER = "USER"
    DATA_AUTHORITY = "DATA_AUTHORITY"
    LEADERSHIP_GROUP = "LEADERSHIP_GROUP"
    AUDITOR = "AUDITOR"
    SYSTEM = "SYSTEM"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"  # keeps the department directory (events/directory.py)


@dataclass(frozen=True, kw_only=True, slots=True)
class Actor:
    department: str
    person: str
    role: Role

    def __post_init__(self) -> None:
        # A publisher's JSON line may say null where a name belongs, and reading it
        # (events/records.from_plain) lets null through: named here, where every Actor is made,
        # rather than failing later in an encoder that names no field. Headers and stored
        # records always give values, so the check costs three comparisons.
        if self.department is None or self.person is None or self.role is None:
            raise PayloadMismatch("; ".join(
                f"actor.{name}: " + ("null is not one of " + ", ".join(Role) if name == "role"
                                     else "expected str, got null")
                for name in ("department", "person", "role") if getattr(self, name) is None))


@dataclass(frozen=True, kw_only=True, slots=True)
class Envelope:
    event_id: uuid.UUID
    event_type: str
    schema_version: int
    aggregate_type: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    actor: Actor
    policy_id: str
    correlation_id: uuid.UUID
    source: str
    causation_id: uuid.UUID | None = None
    recorded_at: datetime | None = None
    # Facts the validator established when it accepted the event, so that the stages after it
    # read them from the event instead of from the validator's private state.
    # The department responsible for the subject (an entry's provider). On an EventRejected: the
    # department answerable for the refused attempt, the one whose registered key signed it
    # (processors/validator.py), so that a forgery is listed under its signer, not under the
    # department it named; None where no registered key's signature verified.
    provider: str | None = None
    route: str | None = None  # a share request's path: auto | conditional | desensitized
    # The publisher's CloudEvents id where it is not a UUID (codec.event_identity).
    cloudevent_id: str | None = None
    # The acting department's signature of the submission and the id of its key
    # (events/signing.py); None for what govshare emits, which its stages sign instead.
    signature: bytes | None = None
    signing_key: str | None = None

    def recorded(self, at: datetime, *, provider: str | None = None, route: str | None = None,
                 policy_id: str | None = None) -> Envelope:
        """The envelope as accepted: when, and what the validator established (anything a
        publisher claimed for these is replaced); `policy_id`: the profile the event was judged
        under, where that is its subject's rather than the actor's."""
        return replace(self, recorded_at=at, provider=provider, route=route,
                       policy_id=policy_id or self.policy_id)
