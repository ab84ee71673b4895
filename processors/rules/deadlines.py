"""Deadline rules (pure): when an obligation falls due, when to warn, how far an extension may
move it, and what a breach escalates to. Limits and articles come from the policy profile."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from events import deadline as dl
from processors.profiles import Limit, Policy
from processors.rules.working_days import WorkingCalendar, end_of_day

DEADLINE_NAMESPACE = uuid.UUID("0c9b7f6e-2f4d-4b8e-9d0a-3f1e5c7a9b21")
CATALOG_UPDATE = "catalog-update"
OBJECTION_PROCESSING = "objection-processing"
REQUEST_DECISION = "request-decision"
PROVIDER_ANSWER = "provider-answer"
USAGE_CORRECTION = "usage-correction"
DATA_AGGREGATION = "data-aggregation"  # aggregating an entry's data once the authority required it
DATA_REFRESH = "data-refresh"  # refreshing aggregated data within its update cycle
UNCATALOGUED_ANSWER = "uncatalogued-answer"  # answering a request for data outside the catalog
CONFLICT_NEGOTIATION = "conflict-negotiation"  # negotiating conflicting values with the other provider
# A department's breach orders rectification (GD-2008 Art. 40: refusal, delay); the
# authority's own limits (request-decision) are supervised, not sanctioned, here. Misuse is
# ordered corrected when flagged (a rectification deadline under the usage-correction limit);
# a usage-correction deadline is one scheduled before that, which still escalates as it did.
ESCALATES = frozenset({CATALOG_UPDATE, OBJECTION_PROCESSING, PROVIDER_ANSWER, USAGE_CORRECTION,
                       DATA_AGGREGATION, DATA_REFRESH, UNCATALOGUED_ANSWER, CONFLICT_NEGOTIATION})
RECTIFICATION = "rectification"
OPEN, MET, BREACHED, CANCELLED = "open", "met", "breached", "cancelled"


@dataclass(frozen=True, slots=True)
class Deadline:
    deadline_id: str
    kind: str
    subject_type: str
    subject_id: str
    obligation_id: str | None
    party: str
    policy_id: str
    started_on: date
    last_day: date
    due_at: datetime
    warn_at: datetime | None
    status: str = OPEN
    warned: bool = False
    sequence: int = 0
    extensions: int = 0
    escalates: str | None = None
    # Computed with days the official schedule does not cover yet: the end may still move.
    provisional: bool = False
    # The profile's limit it was computed from, where that is not the one named like its kind (a
    # misuse's order runs the usage-correction limit; a refresh, its cycle's).
    limit_id: str | None = None

    @property
    def next_fire_at(self) -> datetime | None:
        if self.status != OPEN:
            return None
        if not self.warned and self.warn_at is not None and self.warn_at < self.due_at:
            return self.warn_at
        return self.due_at


def deadline_id(kind: str, subject_id: str, obligation_id: str | None) -> str:
    return str(uuid.uuid5(DEADLINE_NAMESPACE, f"{kind}:{subject_id}:{obligation_id or ''}"))


def _last_day(limit: Limit, start: date, calendar: WorkingCalendar) -> date:
    if limit.working_days is not None:
        return calendar.add_working_days(start, limit.working_days)
    return start + timedelta(days=limit.natural_days or 0)


def _provisional(limit: Limit, start: date, last: date, calendar: WorkingCalendar) -> bool:
    """Natural days need no schedule; working days counted beyond it may move."""
    return limit.working_days is not None and calendar.provisional_between(start, last)


def _warn_at(last_day: date, policy: Policy, calendar: WorkingCalendar) -> datetime | None:
    warning = policy.limits.get("deadline-warning")
    if warning is None or not warning.working_days:
        return None
    return end_of_day(calendar.working_days_before(last_day, warning.working_days), policy.timezone)


def schedule(kind: str, limit_id: str, *, subject_type: str, subject_id: str,
             obligation_id: str | None, party: str, started_on: date, policy: Policy,
             calendar: WorkingCalendar, escalates: str | None = None) -> Deadline | None:
    """A new deadline for an obligation, or None where the policy sets no such limit."""
    limit = policy.limits.get(limit_id)
    if limit is None:
        return None
    last = _last_day(limit, started_on, calendar)
    return Deadline(
        deadline_id=deadline_id(kind, subject_id, obligation_id), kind=kind,
        subject_type=subject_type, subject_id=subject_id, obligation_id=obligation_id,
        party=party, policy_id=policy.id, started_on=started_on, last_day=last,
        due_at=end_of_day(last, policy.timezone), warn_at=_warn_at(last, policy, calendar),
        escalates=escalates, provisional=_provisional(limit, started_on, last, calendar),
        limit_id=None if limit_id == kind else limit_id)


def scheduled_event(d: Deadline, policy: Policy, limit_id: str) -> dl.DeadlineScheduled:
    limit = policy.limits[limit_id]
    return dl.DeadlineScheduled(
        kind=d.kind, subject_type=d.subject_type, subject_id=d.subject_id,
        obligation_id=d.obligation_id, party=d.party, started_on=d.started_on,
        limit_days=limit.working_days or limit.natural_days or 0,
        day_kind=dl.DayKind.WORKING if limit.working_days is not None else dl.DayKind.NATURAL,
        due_at=d.due_at, warn_at=d.warn_at, article=limit.article, escalates=d.escalates,
        provisional=d.provisional)


def extend(d: Deadline, policy: Policy, calendar: WorkingCalendar) -> tuple[Deadline, dl.DeadlineExtended] | None:
    """Move an open deadline by the policy's extension, or None beyond the policy's bound."""
    limit = policy.limits.get(f"{d.kind}-extension")
    if d.status != OPEN or limit is None or d.extensions >= (limit.max_extensions or 0):
        return None
    last = _last_day(limit, d.last_day, calendar)
    moved = replace(d, last_day=last, due_at=end_of_day(last, policy.timezone),
                    warn_at=_warn_at(last, policy, calendar), warned=False,
                    extensions=d.extensions + 1,
                    provisional=d.provisional or _provisional(limit, d.last_day, last, calendar))
    return moved, dl.DeadlineExtended(
        previous_due_at=d.due_at, due_at=moved.due_at, warn_at=moved.warn_at,
        extension_days=limit.working_days or limit.natural_days or 0,
        extensions_granted=moved.extensions, article=limit.article, provisional=moved.provisional)


def extend_to_total(d: Deadline, total_natural_days: int, policy: Policy,
                    calendar: WorkingCalendar) -> tuple[Deadline, dl.DeadlineExtended] | None:
    """Set an open deadline's whole limit to `total_natural_days` from receipt, within the
    policy's bound (Ningbo Art. 27: at most 60 natural days); None beyond it."""
    bound = policy.limits.get(f"{d.kind}-extension")
    if d.status != OPEN or bound is None or total_natural_days > (bound.natural_days or 0):
        return None
    last = d.started_on + timedelta(days=total_natural_days)
    if last <= d.last_day:
        return None
    # A total in natural days from receipt: the schedule no longer matters.
    moved = replace(d, last_day=last, due_at=end_of_day(last, policy.timezone),
                    warn_at=_warn_at(last, policy, calendar), warned=False,
                    extensions=d.extensions + 1, provisional=False)
    return moved, dl.DeadlineExtended(
        previous_due_at=d.due_at, due_at=moved.due_at, warn_at=moved.warn_at,
        extension_days=(last - d.last_day).days, extensions_granted=moved.extensions,
        article=bound.article)


def recalendar(d: Deadline, policy: Policy, calendar: WorkingCalendar,
               source: str) -> tuple[Deadline, dl.DeadlineRescheduled] | None:
    """A provisional deadline computed again with the calendar as it now stands (the official
    schedule or an override arrived): the event says where it moved and whether it is still
    provisional; None if nothing changed."""
    limit = policy.limits.get(d.limit_id or d.kind)
    if d.status != OPEN or not d.provisional or limit is None:
        return None
    last = _last_day(limit, d.started_on, calendar)
    provisional = _provisional(limit, d.started_on, last, calendar)
    extension = policy.limits.get(f"{d.kind}-extension")
    for _ in range(d.extensions if extension is not None and extension.working_days else 0):
        start, last = last, _last_day(extension, last, calendar)
        provisional = provisional or _provisional(extension, start, last, calendar)
    if last == d.last_day and provisional == d.provisional:
        return None
    moved = replace(d, last_day=last, due_at=end_of_day(last, policy.timezone),
                    warn_at=_warn_at(last, policy, calendar), provisional=provisional,
                    warned=d.warned and last == d.last_day)
    return moved, dl.DeadlineRescheduled(previous_due_at=d.due_at, due_at=moved.due_at,
                                         article=source, provisional=provisional)


def fulfil(d: Deadline, at: datetime, by_event: str) -> tuple[Deadline, object] | None:
    """The obligation was done at `at`: met in time, or a breach if it came too late."""
    if d.status != OPEN:
        return None
    if at <= d.due_at:
        return replace(d, status=MET), dl.DeadlineMet(met_at=at, fulfilled_by=by_event)
    return replace(d, status=BREACHED), dl.DeadlineBreached(due_at=d.due_at)


def due_now(d: Deadline, now: datetime) -> str | None:
    """What the clock says should happen to an open deadline: 'warn', 'breach' or nothing."""
    if d.status != OPEN:
        return None
    if now >= d.due_at:
        return "breach"
    if not d.warned and d.warn_at is not None and now >= d.warn_at:
        return "warn"
    return None
