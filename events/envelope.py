"""The metadata every event carries, whatever its type (schemas/govshare.Envelope.avsc)."""
from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, replace
from datetime import datetime


class Role(enum.StrEnum):
    PROVIDER = "PROVIDER"
    USER = "USER"
    DATA_AUTHORITY = "DATA_AUTHORITY"
    LEADERSHIP_GROUP = "LEADERSHIP_GROUP"
    AUDITOR = "AUDITOR"
    SYSTEM = "SYSTEM"


@dataclass(frozen=True, kw_only=True, slots=True)
class Actor:
    department: str
    person: str
    role: Role


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

    def recorded(self, at: datetime) -> Envelope:
        return replace(self, recorded_at=at)
