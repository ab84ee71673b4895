"""Objection rules (DOMAIN.md §3; Ningbo Art. 27-28): pure decisions over an objection's state.

The reporter is a using department; only the entry's provider processes and resolves; only the
data authority decides an extension, to at most the policy's bound in natural days.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import singledispatch

from events import objection as ob
from events.codec import Event
from events.envelope import Role
from processors import jurisdiction
from processors.catalog import PUBLISHED, EntryState
from processors.profiles import Department, Policy
from processors.verdicts import ACCEPTED, RuleBroken, Verdict, broken

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


@dataclass(frozen=True, slots=True)
class Context:
    policy: Policy
    department: Department
    entry: EntryState | None  # the catalog entry the objection is about


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


@singledispatch
def _check(payload: object, state, event: Event, ctx: Context) -> None:
    raise TypeError(f"no objection rule for {type(payload).__name__}")


@_check.register
def _(p: ob.ObjectionReported, state: None, event: Event, ctx: Context) -> None:
    jurisdiction.require(event.envelope.actor.role == Role.USER, event, ctx, "a using department")
    if ctx.entry is None:
        raise broken(ctx.policy, "entry-must-exist", f"No catalog entry {p.entry_id}.")
    if ctx.entry.status != PUBLISHED:
        raise broken(ctx.policy, "entry-taken-down", f"{p.entry_id} was taken down.")


@_check.register
def _(p: ob.ObjectionExtensionRequested, state: ObjectionState, event: Event, ctx: Context) -> None:
    _provider(state, event, ctx)
    _open(state, ctx)
    _within_bound(p.total_natural_days, ctx)


@_check.register
def _(p: ob.ObjectionExtensionGranted, state: ObjectionState, event: Event, ctx: Context) -> None:
    jurisdiction.require_authority(event, ctx)
    _open(state, ctx)
    if state.extension_requested is None:
        raise broken(ctx.policy, "extension-must-be-requested", "No extension was requested.")
    _within_bound(p.total_natural_days, ctx)


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
    if p.due_at <= event.envelope.occurred_at:
        raise broken(ctx.policy, "objection-not-urgent", "The limit must lie after the decision.")


def _reporter_answers(state: ObjectionState, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    jurisdiction.require(actor.role == Role.USER and actor.department == state.reporter, event, ctx,
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
    p, env = event.payload, event.envelope
    if isinstance(p, ob.ObjectionReported):
        return ObjectionState(objection_id=env.aggregate_id, entry_id=p.entry_id,
                              reporter=env.actor.department, provider=ctx.entry.provider,
                              policy_id=env.policy_id, status=OPEN, sequence=env.sequence,
                              urgent=p.urgent)
    if isinstance(p, ob.ObjectionExtensionRequested):
        changes = dict(extension_requested=p.total_natural_days)
    elif isinstance(p, ob.ObjectionExtensionGranted):
        changes = dict(extension_requested=None, total_natural_days=p.total_natural_days)
    elif isinstance(p, ob.ObjectionExtensionRefused):
        changes = dict(extension_requested=None)
    elif isinstance(p, ob.ObjectionResolved):
        changes = dict(status=RESOLVED)
    elif isinstance(p, ob.UrgentLimitSet):
        changes = {}
    elif isinstance(p, ob.ResolutionAccepted):
        changes = dict(status=CLOSED)
    elif isinstance(p, ob.ResolutionContested):
        changes = dict(status=OPEN, round=state.round + 1, extension_requested=None,
                       total_natural_days=None)
    return replace(state, sequence=env.sequence, **changes)
