"""Deadline events: legal time limits scheduled, warned, met, extended, breached, escalated."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from events.kinds import event_type

AGGREGATE = "deadline"


class DayKind(enum.StrEnum):
    WORKING = "WORKING"
    NATURAL = "NATURAL"


def _deadline_event(name: str):
    return event_type(name, schema=f"govshare.deadline.{name}", aggregate=AGGREGATE)


@_deadline_event("DeadlineScheduled")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineScheduled:
    """An obligation started and must be fulfilled before ``due_at``."""
    kind: str
    subject_type: str
    subject_id: str
    party: str
    started_on: date
    limit_days: int
    day_kind: DayKind
    due_at: datetime
    article: str
    obligation_id: str | None = None
    warn_at: datetime | None = None
    escalates: str | None = None
    # due_at counted days the official schedule does not cover yet: it may still move, and a
    # DeadlineRescheduled will say so when the schedule arrives.
    provisional: bool = False


@_deadline_event("DeadlineWarningIssued")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineWarningIssued:
    """The deadline is near and the obligation is still open."""
    due_at: datetime


@_deadline_event("DeadlineMet")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineMet:
    """The obligation was fulfilled in time."""
    met_at: datetime
    fulfilled_by: str


@_deadline_event("DeadlineExtended")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineExtended:
    """An approved extension moved the deadline, within the policy's bound."""
    previous_due_at: datetime
    due_at: datetime
    extension_days: int
    extensions_granted: int
    article: str
    warn_at: datetime | None = None
    provisional: bool = False


@_deadline_event("DeadlineBreached")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineBreached:
    """The deadline fell due with the obligation still open."""
    due_at: datetime


@_deadline_event("DeadlineCancelled")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineCancelled:
    """The subject went away, so the obligation ended."""
    reason: str


@_deadline_event("RectificationOrdered")
@dataclass(frozen=True, kw_only=True, slots=True)
class RectificationOrdered:
    """A provider breached a deadline and is ordered to correct within a limit."""
    party: str
    rectification_deadline_id: str
    due_at: datetime
    article: str


@_deadline_event("CriticismCirculated")
@dataclass(frozen=True, kw_only=True, slots=True)
class CriticismCirculated:
    """A rectification order was not complied with: circulated criticism."""
    party: str
    article: str


@_deadline_event("DeadlineRescheduled")
@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineRescheduled:
    """The deadline moved, earlier or later: the authority set a case-by-case limit, or a
    provisional deadline was computed again once the official schedule for its days arrived
    (`article` names which; `provisional` says whether it may still move)."""
    previous_due_at: datetime
    due_at: datetime
    article: str
    provisional: bool = False
