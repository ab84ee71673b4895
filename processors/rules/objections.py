"""Objection rules (DOMAIN.md §3; Ningbo Art. 27-28): pure decisions over an objection's state.

The reporter is a using department, never the entry's provider (which corrects its own data);
only the entry's provider processes and resolves; only the data authority decides an extension,
to at most the policy's bound in natural days.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import singledispatch

from events import objection as ob
from events.codec import Event
from events.envelope import Role
from processors.rules import deadlines, jurisdiction
from processors.rules.catalog import PUBLISHED, EntryState
from processors.profiles import Department, Policy
from processors.rules.working_days import calendar_for, local_day
from processors.rules.verdicts import ACCEPTED, RuleBroken, Verdict, broken

OPEN, RESOLVED, CLOSED = "open", "resolved", "closed"


@dataclass(frozen=True, slots=True)
class ObjectionState:
    objection_id: str
    entry_id: str
    reporter: str
    provider: str
    policy_id: str
    status: str
    sequence: int
    urgent: bool = False
    round: int = 1
    extension_requested: int | None = None  # total natural days asked for, while undecided
    total_natural_days: int | None = None  # the granted total, if extended
    # The day this round's limit runs from (the report, or the contest that reopened it), and
    # the limit the authority set for an urgent one: ISO text, as the stored state keeps them.
    # None in a state stored before they were kept.
    round_started_on: str | None = None
    urgent_due_at: str | None = None
    # The role the reporter reported in, and answers the resolution in: a using department,
    # or the data authority that found the problem by its own monitoring (Ningbo Art. 29).
    reporter_role: str = Role.USER.value


@dataclass(frozen=True, slots=True)
class Context:
    policy: Policy
    department: Department
    entry: EntryState | None  # the catalog entry the objection is about


def context(policy: Policy, department: Department, entry: EntryState | None, policies, received: datetime) -> Context:
    """What a decision on an objection consults: problem data is reported and processed under
    the entry's jurisdiction, whoever reports it (its limits, its articles, its authority)."""
    if entry is not None:
        policy = policies.policy(entry.policy_id) or policy
    return Context(policy, department, entry)


def established(state: ObjectionState) -> dict:
    """What the validator records on an accepted event: the provider, and the profile it was
    judged under (the entry's)."""
    return dict(provider=state.provider, policy_id=state.policy_id)


def decide(state: ObjectionState | None, event: Event, ctx: Context) -> Verdict:
    try:
        _check_lifecycle(state, event, ctx)
        _check(event.payload, state, event, ctx)
    except RuleBroken as stop:
        return stop.rejected
    return ACCEPTED


def _check_lifecycle(state: ObjectionState | None, event: Event, ctx: Context) -> None:
    jurisdiction.expect_next(ctx.policy, event, state.sequence if state else None,
                             creates=isinstance(event.payload, ob.ObjectionReported),
                             exists_rule="objection-already-reported",
                             missing_rule="objection-must-exist")


def _provider(state: ObjectionState, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    jurisdiction.require(actor.role == Role.PROVIDER and actor.department == state.provider,
                         event, ctx, f"the entry's provider {state.provider}")


def _open(state: ObjectionState, ctx: Context) -> None:
    if state.status != OPEN:
        raise broken(ctx.policy, "objection-must-be-open", f"{state.objection_id} is {state.status}.")


def _within_bound(total: int, ctx: Context) -> None:
    bound = ctx.policy.limits.get("objection-processing-extension")
    if bound is None:
        raise broken(ctx.policy, "objection-extension-not-provided", "")
    if total > (bound.natural_days or 0):
        raise broken(ctx.policy, "objection-extension-bound",
                     f"{total} natural days asked; at most {bound.natural_days}.")


def _received_at(event: Event) -> datetime:
    """The rules' "now": when the validator received the event (it stamps recorded_at before
    deciding; a publisher's occurred_at is only a claim)."""
    return event.envelope.recorded_at


def _ordinary(state: ObjectionState, ctx: Context) -> deadlines.Deadline | None:
    """This round's processing limit as the deadline engine schedules it, or None where the
    profile sets none or the round's start was not kept."""
    if state.round_started_on is None:
        return None
    return deadlines.schedule(
        deadlines.OBJECTION_PROCESSING, deadlines.OBJECTION_PROCESSING,
        subject_type=ob.AGGREGATE, subject_id=state.objection_id, obligation_id=None, party="",
        started_on=date.fromisoformat(state.round_started_on), policy=ctx.policy,
        calendar=calendar_for(ctx.policy.jurisdiction))


def _extended(d: deadlines.Deadline, total_natural_days: int, ctx: Context) -> deadlines.Deadline:
    moved = deadlines.extend_to_total(d, total_natural_days, ctx.policy,
                                      calendar_for(ctx.policy.jurisdiction))
    return moved[0] if moved else d


def processing_due_at(state: ObjectionState, ctx: Context) -> datetime | None:
    """When this round's limit lapses: the authority's urgent limit, else the ordinary one as
    extended."""
    if state.urgent_due_at is not None:
        return datetime.fromisoformat(state.urgent_due_at)
    d = _ordinary(state, ctx)
    if d is not None and state.total_natural_days:
        d = _extended(d, state.total_natural_days, ctx)
    return d.due_at if d else None


def _longest_due_at(state: ObjectionState, ctx: Context) -> datetime | None:
    """The end of the longest limit the objection rules allow this round: the extension bound
    (Ningbo Art. 27: 60 natural days from receipt), else the ordinary limit."""
    d = _ordinary(state, ctx)
    bound = ctx.policy.limits.get("objection-processing-extension")
    if d is not None and bound is not None and bound.natural_days:
        d = _extended(d, bound.natural_days, ctx)
    return d.due_at if d else None


def _before_lapse(state: ObjectionState, event: Event, ctx: Context) -> None:
    """An extension moves a running limit; once it lapsed the engine has recorded the breach."""
    due = processing_due_at(state, ctx)
    if due is not None and _received_at(event) >= due:
        raise broken(ctx.policy, "objection-extension-too-late",
                     f"The limit of {state.objection_id} lapsed at {due.isoformat()}.")


@singledispatch
def _check(payload: object, state, event: Event, ctx: Context) -> None:
    raise TypeError(f"no objection rule for {type(payload).__name__}")


@_check.register
def _(p: ob.ObjectionReported, state: None, event: Event, ctx: Context) -> None:
    if event.envelope.actor.role == Role.DATA_AUTHORITY:
        _found_by_monitoring(event, ctx)
    else:
        jurisdiction.require(event.envelope.actor.role == Role.USER, event, ctx, "a using department")
    if ctx.entry is None:
        raise broken(ctx.policy, "entry-must-exist", f"No catalog entry {p.entry_id}.")
    if ctx.entry.provider == event.envelope.actor.department:
        raise broken(ctx.policy, "reporter-is-provider", f"{ctx.entry.provider} provides {p.entry_id}.")
    if ctx.entry.status != PUBLISHED:
        raise broken(ctx.policy, "entry-taken-down", f"{p.entry_id} was taken down.")


@_check.register
def _(p: ob.ObjectionExtensionRequested, state: ObjectionState, event: Event, ctx: Context) -> None:
    _provider(state, event, ctx)
    _open(state, ctx)
    _within_bound(p.total_natural_days, ctx)
    _before_lapse(state, event, ctx)


@_check.register
def _(p: ob.ObjectionExtensionGranted, state: ObjectionState, event: Event, ctx: Context) -> None:
    jurisdiction.require_authority(event, ctx)
    _open(state, ctx)
    if state.extension_requested is None:
        raise broken(ctx.policy, "extension-must-be-requested", "No extension was requested.")
    _within_bound(p.total_natural_days, ctx)
    _before_lapse(state, event, ctx)


@_check.register
def _(p: ob.ObjectionExtensionRefused, state: ObjectionState, event: Event, ctx: Context) -> None:
    jurisdiction.require_authority(event, ctx)
    if state.extension_requested is None:
        raise broken(ctx.policy, "extension-must-be-requested", "No extension was requested.")


@_check.register
def _(p: ob.ObjectionResolved, state: ObjectionState, event: Event, ctx: Context) -> None:
    _provider(state, event, ctx)
    _open(state, ctx)
    if p.outcome == ob.Outcome.CORRECTED:
        if p.correction is None or not p.correction.data_version or not p.correction.records:
            raise broken(ctx.policy, "resolution-needs-evidence",
                         "A correction names the records changed and the new data version.")
    elif not p.note.strip():
        raise broken(ctx.policy, "resolution-needs-evidence", f"{p.outcome.value} needs a note.")


@_check.register
def _(p: ob.UrgentLimitSet, state: ObjectionState, event: Event, ctx: Context) -> None:
    jurisdiction.require_authority(event, ctx)
    _open(state, ctx)
    if not state.urgent:
        raise broken(ctx.policy, "objection-not-urgent", f"{state.objection_id} was not reported urgent.")
    if p.due_at <= _received_at(event):
        raise broken(ctx.policy, "urgent-limit-bound", "The limit must lie after the decision.")
    latest = _longest_due_at(state, ctx)
    if latest is not None and p.due_at > latest:
        raise broken(ctx.policy, "urgent-limit-bound",
                     f"{p.due_at.isoformat()} is after {latest.isoformat()}.")


def _found_by_monitoring(event: Event, ctx: Context) -> None:
    """The data authority reports problem data it found by cleaning, comparing and checking
    what is aggregated, on an entry of its own jurisdiction, where its measures make that its
    duty (the profile's `authority-monitoring`); elsewhere using departments report."""
    jurisdiction.require_authority(event, ctx)
    if not ctx.policy.applies("authority-monitoring"):
        raise broken(ctx.policy, "authority-monitoring-not-provided",
                     f"{ctx.policy.title}: problem data is reported by the departments that use it.")


def _reporter_answers(state: ObjectionState, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    jurisdiction.require(actor.role == state.reporter_role and actor.department == state.reporter, event, ctx,
                         f"the reporter {state.reporter}")
    if state.status != RESOLVED:
        raise broken(ctx.policy, "objection-must-be-resolved", f"{state.objection_id} is {state.status}.")


@_check.register
def _(p: ob.ResolutionAccepted, state: ObjectionState, event: Event, ctx: Context) -> None:
    _reporter_answers(state, event, ctx)


@_check.register
def _(p: ob.ResolutionContested, state: ObjectionState, event: Event, ctx: Context) -> None:
    _reporter_answers(state, event, ctx)


def evolve(state: ObjectionState | None, event: Event, ctx: Context) -> ObjectionState:
    """The objection's state after an accepted event."""
    return _evolve(event.payload, state, event, ctx)


def _today(event: Event, ctx: Context) -> str:
    # A report or a contest starts a round's limit on the day received (as the engine does).
    return local_day(_received_at(event), ctx.policy.timezone).isoformat()


def _next(state: ObjectionState, event: Event, **changes) -> ObjectionState:
    return replace(state, sequence=event.envelope.sequence, **changes)


@singledispatch
def _evolve(p: object, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    raise TypeError(f"no objection state change for {type(p).__name__}")


@_evolve.register
def _(p: ob.ObjectionReported, state: None, event: Event, ctx: Context) -> ObjectionState:
    env = event.envelope
    return ObjectionState(objection_id=env.aggregate_id, entry_id=p.entry_id, reporter=env.actor.department,
                          provider=ctx.entry.provider, policy_id=ctx.policy.id, status=OPEN, sequence=env.sequence,
                          urgent=p.urgent, round_started_on=_today(event, ctx), reporter_role=env.actor.role.value)


@_evolve.register
def _(p: ob.ObjectionExtensionRequested, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, extension_requested=p.total_natural_days)


@_evolve.register
def _(p: ob.ObjectionExtensionGranted, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    # The granted total from receipt replaces an urgent limit set before it.
    return _next(state, event, extension_requested=None, total_natural_days=p.total_natural_days, urgent_due_at=None)


@_evolve.register
def _(p: ob.ObjectionExtensionRefused, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, extension_requested=None)


@_evolve.register
def _(p: ob.ObjectionResolved, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, status=RESOLVED)


@_evolve.register
def _(p: ob.UrgentLimitSet, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, urgent_due_at=p.due_at.isoformat())


@_evolve.register
def _(p: ob.ResolutionAccepted, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, status=CLOSED)


@_evolve.register
def _(p: ob.ResolutionContested, state: ObjectionState, event: Event, ctx: Context) -> ObjectionState:
    return _next(state, event, status=OPEN, round=state.round + 1, extension_requested=None,
                 total_natural_days=None, round_started_on=_today(event, ctx), urgent_due_at=None)
