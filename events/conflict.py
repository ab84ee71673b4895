"""Conflicting values between departments (GD-2018 Art. 13: 不同部门提供同一类别的数据不一致时，相关
部门应当及时协商形成一致意见，不能形成一致意见的，由本级政务数据主管部门会同相关部门协调处理): two
departments that provide the same kind of data differently negotiate a consistent view in time,
or refer it to their data authority, which coordinates."""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "data-conflict"


def _conflict_event(name: str, senders: tuple[Role, ...]):
    return event_type(name, schema=f"govshare.conflict.{name}", aggregate=AGGREGATE, senders=senders)


@_conflict_event("ValueConflictReported", senders=(Role.PROVIDER, Role.USER, Role.DATA_AUTHORITY))
@dataclass(frozen=True, kw_only=True, slots=True)
class ValueConflictReported:
    """Two entries of two providers give the same kind of data differently."""
    entry_id: str
    other_entry_id: str
    items: str  # the data concerned, as the reporter names it
    description: str  # how the values differ


@_conflict_event("ConflictNegotiated", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ConflictNegotiated:
    """The two providers reached a consistent view (协商形成一致意见), which one of them records."""
    agreement: str


@_conflict_event("ConflictReferred", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ConflictReferred:
    """The providers could not agree: one of them refers the conflict to the data authority."""
    reason: str


@_conflict_event("ConflictCoordinated", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ConflictCoordinated:
    """The data authority coordinated a referred conflict with the departments (协调处理)."""
    decision: str
