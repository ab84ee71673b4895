"""Objection events (DOMAIN.md §3): problem data reported, processed, corrected, closed."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "objection"


class ProblemKind(enum.StrEnum):
    ERROR = "ERROR"
    OMISSION = "OMISSION"
    TRADE_SECRET = "TRADE_SECRET"
    PRIVACY = "PRIVACY"


class Channel(enum.StrEnum):
    PLATFORM = "PLATFORM"
    INTERFACE = "INTERFACE"


class Outcome(enum.StrEnum):
    CORRECTED = "CORRECTED"
    CONFIRMED_CORRECT = "CONFIRMED_CORRECT"
    RESOLVED_BY_COMMUNICATION = "RESOLVED_BY_COMMUNICATION"


@dataclass(frozen=True, kw_only=True, slots=True)
class Correction:
    records: tuple[str, ...]
    fields: tuple[str, ...]
    data_version: str


def _objection_event(name: str, senders: tuple[Role, ...]):
    return event_type(name, schema=f"govshare.objection.{name}", aggregate=AGGREGATE, senders=senders)


@_objection_event("ObjectionReported", senders=(Role.USER, Role.DATA_AUTHORITY))
@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectionReported:
    """A using department reported problem data on a catalog entry (Ningbo Art. 27-28), or the
    data authority did, having found it by its own monitoring where its measures say so (Ningbo
    Art. 29)."""
    entry_id: str
    kind: ProblemKind
    records: tuple[str, ...]
    fields: tuple[str, ...]
    expected: str
    urgent: bool = False
    channel: Channel = Channel.PLATFORM


@_objection_event("ObjectionExtensionRequested", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectionExtensionRequested:
    """The provider asked for a longer limit, as a total of natural days from receipt."""
    total_natural_days: int
    reason: str


@_objection_event("ObjectionExtensionGranted", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectionExtensionGranted:
    """The data authority approved the extension after review."""
    total_natural_days: int
    comment: str = ""


@_objection_event("ObjectionExtensionRefused", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectionExtensionRefused:
    """The data authority refused the extension."""
    reasons: str


@_objection_event("ObjectionResolved", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ObjectionResolved:
    """The provider closed the problem: corrected, confirmed correct, or resolved by talking."""
    outcome: Outcome
    note: str
    correction: Correction | None = None


@_objection_event("ResolutionAccepted", senders=(Role.USER, Role.DATA_AUTHORITY))
@dataclass(frozen=True, kw_only=True, slots=True)
class ResolutionAccepted:
    """The reporter accepted the resolution: the objection is closed."""
    comment: str = ""


@_objection_event("ResolutionContested", senders=(Role.USER, Role.DATA_AUTHORITY))
@dataclass(frozen=True, kw_only=True, slots=True)
class ResolutionContested:
    """The reporter contested the resolution: the objection reopens with a new limit."""
    reason: str


@_objection_event("UrgentLimitSet", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class UrgentLimitSet:
    """The data authority set the limit of an urgent objection, case by case (Ningbo Art. 27)."""
    due_at: datetime
    reason: str
