"""The catalog's rules (DOMAIN.md §1): pure decisions over an entry's state and one event.

No clock, no I/O: the caller passes the entry's state, the current sources of the
event's data items, and the policies; ``decide`` says accept or reject, ``evolve`` folds an
accepted event into the state.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import singledispatch
from typing import Mapping

from events import catalog as ev
from events.codec import Event
from events.envelope import Role
from processors.rules import deadlines, jurisdiction
from processors.profiles import Department, Grade, Policy
from processors.rules.verdicts import ACCEPTED, RuleBroken, Verdict, broken
from processors.rules.working_days import calendar_for, local_day

PUBLISHED = "published"
TAKEN_DOWN = "taken_down"


@dataclass(frozen=True, slots=True)
class Obligation:
    obligation_id: str
    open: bool = True
    extensions_granted: int = 0
    extension_requested: bool = False
    # The day the change was received (ISO date, as the stored state keeps it): the update
    # limit runs from it. None for an obligation stored before it was kept.
    received_on: str | None = None


@dataclass(frozen=True, slots=True)
class PendingRevision:
    revision_id: str
    item_codes: tuple[str, ...]
    obligation_id: str | None = None
    share_type: str = ev.ShareType.UNCONDITIONAL.value
    share_methods: tuple[str, ...] = ()
    security_level: str = ""
    usage_departments: tuple[str, ...] = ()
    desensitization_barred: bool = False
    information_system: str = ""
    open_type: str = ev.OpenType.NOT_OPEN.value


@dataclass(frozen=True, slots=True)
class EntryState:
    entry_id: str
    provider: str
    policy_id: str
    status: str
    sequence: int
    version: int
    item_codes: tuple[str, ...]
    pending: PendingRevision | None = None
    obligations: tuple[Obligation, ...] = ()
    share_type: str = ev.ShareType.UNCONDITIONAL.value
    # The sharing methods the entry offers (Ningbo Art. 10 提供方式); empty in a state stored
    # before they were kept, which then offers whatever is asked, as it did.
    share_methods: tuple[str, ...] = ()
    # Its security grade (安全等级), one of the profile's grades; blank where none was stated
    # (or in a state stored before it was kept), which no grade restricts.
    security_level: str = ""
    # Whether the provider aggregated the entry's data to the platform (DataAggregated).
    aggregated: bool = False
    # Who may request it (its usage scope, by department; empty: any), and whether a law bars
    # even desensitized provision.
    usage_departments: tuple[str, ...] = ()
    desensitization_barred: bool = False
    # The information system whose data it catalogues (a project is approved on it).
    information_system: str = ""
    # Its open type (开放属性), and whether the risk of opening it was assessed (Ningbo Art. 32).
    open_type: str = ev.OpenType.NOT_OPEN.value
    open_risk_assessed: bool = False

    def obligation(self, obligation_id: str | None) -> Obligation | None:
        return next((o for o in self.obligations if o.obligation_id == obligation_id), None)

    def with_obligation(self, updated: Obligation) -> EntryState:
        rest = tuple(o for o in self.obligations if o.obligation_id != updated.obligation_id)
        return replace(self, obligations=rest + (updated,))


@dataclass(frozen=True, slots=True)
class Context:
    """What a decision may consult besides the entry itself."""
    entry_id: str
    policy: Policy
    department: Department
    item_sources: Mapping[str, str]  # data item code -> entry id that currently provides it
    now: datetime  # when the validator received the event; a publisher's occurred_at is a claim


def received_on(ctx: Context) -> date:
    """The day the event was received, in the jurisdiction's time zone (limits count days)."""
    return local_day(ctx.now, ctx.policy.timezone)


PROVIDER_EVENTS = (ev.EntryRegistered, ev.EntryRevised, ev.EntryTakenDown, ev.RevisionSubmitted,
                   ev.ExtensionRequested, ev.DataAggregated, ev.DataRefreshed)
AUTHORITY_EVENTS = (ev.RevisionApproved, ev.RevisionRejected, ev.ExtensionGranted,
                    ev.ExtensionRefused, ev.AggregationRequired)


def decide(state: EntryState | None, event: Event, ctx: Context) -> Verdict:
    try:
        _check_lifecycle(state, event, ctx.policy)
        _check_actor(state, event, ctx)
        _check(event.payload, state, ctx)
    except RuleBroken as stop:
        return stop.rejected
    return ACCEPTED


def _check_lifecycle(state: EntryState | None, event: Event, policy: Policy) -> None:
    if state is not None and state.status == TAKEN_DOWN:
        raise broken(policy, "entry-taken-down", f"{state.entry_id} was taken down.")
    jurisdiction.expect_next(policy, event, state.sequence if state else None,
                             creates=isinstance(event.payload, ev.EntryRegistered),
                             exists_rule="entry-already-registered", missing_rule="entry-must-exist")


def _check_actor(state: EntryState | None, event: Event, ctx: Context) -> None:
    actor, payload = event.envelope.actor, event.payload
    provider = state.provider if state else actor.department
    is_provider = actor.role == Role.PROVIDER and actor.department == provider
    is_authority = actor.role == Role.DATA_AUTHORITY and ctx.department.authority
    if is_authority and not is_provider:
        jurisdiction.require_of_jurisdiction(event, ctx)  # the entry's own authority decides
    if isinstance(payload, (ev.ChangeObligationRaised, ev.OpenDataRiskAssessed)):
        allowed = is_provider or is_authority
    elif isinstance(payload, AUTHORITY_EVENTS):
        allowed = is_authority
    else:
        allowed = is_provider
    if not allowed:
        raise broken(ctx.policy, "actor-not-permitted",
                     f"{actor.department} acting as {actor.role.value} may not publish "
                     f"{event.envelope.event_type} for an entry provided by {provider}.")


def check_attributes(attrs: ev.EntryAttributes, entry_id: str, ctx: Context) -> None:
    """The content rules every version of an entry must satisfy."""
    policy, restricted = ctx.policy, attrs.share_type != ev.ShareType.UNCONDITIONAL
    _check_complete(attrs, policy)
    if attrs.share_type == ev.ShareType.NON_SHAREABLE and attrs.open_type != ev.OpenType.NOT_OPEN:
        # Data no department may have is no one's to have (Ningbo Art. 32: 不得向社会开放).
        raise broken(policy, "not-openable", f"Non-shareable data declared {attrs.open_type.value}.")
    _check_grade(attrs, policy)
    if restricted:
        _check_legal_basis(attrs, policy)
    if attrs.share_type == ev.ShareType.CONDITIONAL and not (attrs.share_conditions or "").strip():
        raise broken(policy, "conditions-required", "No share_conditions given.")
    if restricted and policy.applies("base-items-unconditional") \
            and attrs.base_resource != ev.BaseResource.NONE:
        base = [i.code for i in attrs.data_items if i.base_item]
        if base:
            raise broken(policy, "base-items-unconditional",
                         f"Base items {', '.join(base)} of {attrs.base_resource.value}.")
    if restricted and attrs.for_administrative_licensing \
            and policy.applies("licensing-data-unconditional"):
        raise broken(policy, "licensing-data-unconditional", "The entry serves licensing.")
    check_sources(attrs.item_codes, entry_id, ctx)


def _blank(value: object) -> bool:
    """Whether an attribute states nothing: absent, whitespace only, or an empty list. An enum
    or a flag always states something."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, tuple) and not value


def uncited(basis: ev.LegalBasis) -> list[str]:
    """What a legal basis leaves blank of what makes it a citation: its title, its article."""
    return [name for name in ("title", "article") if _blank(getattr(basis, name))]


def _check_complete(attrs: ev.EntryAttributes, policy: Policy) -> None:
    """The attributes the jurisdiction's catalog must state (the profile lists them), then
    the data items: at least one, each with a code and a name, each code once."""
    missing = [name for name in policy.rule("entry-attributes-required").required
               if _blank(getattr(attrs, name))]
    if missing:
        raise broken(policy, "entry-attributes-required", f"Missing: {', '.join(missing)}.")
    if not attrs.data_items:
        raise broken(policy, "data-items-required", "The entry lists no data items.")
    unnamed = [f"#{n}" for n, item in enumerate(attrs.data_items, 1)
               if _blank(item.code) or _blank(item.name)]
    if unnamed:
        raise broken(policy, "data-items-required", f"Items {', '.join(unnamed)} lack a code or a name.")
    twice = sorted(code for code, n in Counter(i.code for i in attrs.data_items).items() if n > 1)
    if twice:
        raise broken(policy, "data-item-duplicated", f"Listed more than once: {', '.join(twice)}.")


def grade_of(level: str, policy: Policy) -> Grade | None:
    """The grade an entry's security level names; None for an entry stating none."""
    return policy.grades.get(level.strip()) if level and level.strip() else None


def _check_grade(attrs: ev.EntryAttributes, policy: Policy) -> None:
    """Data is catalogued and shared as its grade allows (分类分级, GD-2018 Art. 27); classified
    data is not catalogued at all. A level left blank (where the profile does not require one)
    is ungraded and restricts nothing."""
    if _blank(attrs.security_level) or not policy.grades:
        return
    grade = grade_of(attrs.security_level, policy)
    if grade is None:
        raise broken(policy, "security-grade-unknown",
                     f"{attrs.security_level!r} is none of {', '.join(policy.grades)}.")
    if grade.excluded:
        raise broken(policy, "classified-data-excluded", f"Graded {grade.id} ({grade.label}).")
    if attrs.share_type.value not in grade.share_types:
        raise broken(policy, "security-grade-not-allowed",
                     f"{grade.id} ({grade.label}) data is shared as {', '.join(grade.share_types)}, "
                     f"not {attrs.share_type.value}.")
    barred = sorted(m.value for m in attrs.share_methods if m.value not in grade.methods)
    if barred:
        raise broken(policy, "security-grade-not-allowed",
                     f"{grade.id} ({grade.label}) data is not shared by {', '.join(barred)}.")
    if grade.open_types and attrs.open_type.value not in grade.open_types:
        raise broken(policy, "security-grade-not-allowed",
                     f"{grade.id} ({grade.label}) data is opened as {', '.join(grade.open_types)}, "
                     f"not {attrs.open_type.value}.")


def _check_legal_basis(attrs: ev.EntryAttributes, policy: Policy) -> None:
    """A restricted entry cites a norm that is one (a title and an article, not a department's
    internal rule), and where the jurisdiction asks for it, says why it is restricted."""
    basis = attrs.legal_basis
    if basis is not None and basis.kind == ev.LegalBasisKind.INTERNAL_RULE:
        rule = "internal-rule-not-a-basis" if policy.applies("internal-rule-not-a-basis") \
            else "legal-basis-required"
        raise broken(policy, rule, f"{basis.title} is a department's internal rule.")
    if basis is None:
        raise broken(policy, "legal-basis-required", f"Share type is {attrs.share_type.value}.")
    blank = uncited(basis)
    if blank:
        raise broken(policy, "legal-basis-required",
                     f"The legal basis cites no {' and no '.join(blank)}.")
    if policy.applies("restriction-reason-required") and _blank(attrs.restriction_reason):
        raise broken(policy, "restriction-reason-required", "No restriction_reason given.")


def check_sources(codes: frozenset[str] | tuple[str, ...], entry_id: str, ctx: Context) -> None:
    taken = sorted(f"{code} (provided by {ctx.item_sources[code]})" for code in codes
                   if ctx.item_sources.get(code, entry_id) != entry_id)
    if taken:
        raise broken(ctx.policy, "one-data-one-source", f"Already sourced: {', '.join(taken)}.")


def _open_obligation(state: EntryState, obligation_id: str | None, policy: Policy) -> Obligation:
    found = state.obligation(obligation_id)
    if found is None or not found.open:
        raise broken(policy, "obligation-must-be-open",
                     f"{state.entry_id} has no open obligation {obligation_id!r}.")
    return found


@singledispatch
def _check(payload: object, state: EntryState | None, ctx: Context) -> None:
    raise TypeError(f"no catalog rule for {type(payload).__name__}")


@_check.register
def _(payload: ev.EntryRegistered, state: None, ctx: Context) -> None:
    check_attributes(payload.attributes, ctx.entry_id, ctx)


@_check.register
def _(payload: ev.EntryRevised, state: EntryState, ctx: Context) -> None:
    check_attributes(payload.attributes, state.entry_id, ctx)


@_check.register
def _(payload: ev.EntryTakenDown, state: EntryState, ctx: Context) -> None:
    pass


@_check.register
def _(payload: ev.ChangeObligationRaised, state: EntryState, ctx: Context) -> None:
    if state.obligation(payload.obligation_id) is not None:
        raise broken(ctx.policy, "obligation-already-raised", f"{payload.obligation_id} exists.")
    today = received_on(ctx)
    if payload.received_on > today:
        # The limit runs from this day: a date to come would push the deadline out unchecked.
        raise broken(ctx.policy, "obligation-received-in-future",
                     f"Received on {payload.received_on.isoformat()}, recorded on {today.isoformat()}.")


@_check.register
def _(payload: ev.RevisionSubmitted, state: EntryState, ctx: Context) -> None:
    if state.pending is not None:
        raise broken(ctx.policy, "revision-must-be-pending",
                     f"Revision {state.pending.revision_id} is still under review.")
    if payload.obligation_id is not None:
        _open_obligation(state, payload.obligation_id, ctx.policy)
    check_attributes(payload.attributes, state.entry_id, ctx)


def _pending(state: EntryState, revision_id: str, ctx: Context) -> PendingRevision:
    if state.pending is None or state.pending.revision_id != revision_id:
        raise broken(ctx.policy, "revision-must-be-pending",
                     f"{revision_id} is not the revision under review.")
    return state.pending


@_check.register
def _(payload: ev.RevisionApproved, state: EntryState, ctx: Context) -> None:
    # The items may have been claimed by another entry while the revision waited.
    check_sources(_pending(state, payload.revision_id, ctx).item_codes, state.entry_id, ctx)


@_check.register
def _(payload: ev.RevisionRejected, state: EntryState, ctx: Context) -> None:
    _pending(state, payload.revision_id, ctx)


def _extension_bound(obligation: Obligation, ctx: Context) -> None:
    limit = ctx.policy.limits.get("catalog-update-extension")
    if limit is None:
        raise broken(ctx.policy, "extension-not-provided", "")
    if obligation.extensions_granted >= (limit.max_extensions or 0):
        raise broken(ctx.policy, "extension-limit",
                     f"{obligation.obligation_id} was extended {obligation.extensions_granted} "
                     f"time(s); {limit.article} allows {limit.max_extensions}.")


def update_due_at(obligation: Obligation, ctx: Context) -> datetime | None:
    """When the obligation's update limit lapses, computed as the deadline engine does
    (processors/rules/deadlines.py): the profile's limit from the day received, moved by each
    extension granted. None where the profile sets no limit or the day was not kept."""
    if obligation.received_on is None:
        return None
    calendar = calendar_for(ctx.policy.jurisdiction)
    due = deadlines.schedule(
        deadlines.CATALOG_UPDATE, deadlines.CATALOG_UPDATE, subject_type=ev.AGGREGATE,
        subject_id=ctx.entry_id, obligation_id=obligation.obligation_id, party="",
        started_on=date.fromisoformat(obligation.received_on), policy=ctx.policy, calendar=calendar)
    for _ in range(obligation.extensions_granted if due else 0):
        moved = deadlines.extend(due, ctx.policy, calendar)
        due = moved[0] if moved else due
    return due.due_at if due else None


def _before_lapse(obligation: Obligation, ctx: Context) -> None:
    """An extension moves a running limit. Once it lapsed the deadline engine has recorded the
    breach, which no later consent undoes: the breach path (rectification) runs instead."""
    due = update_due_at(obligation, ctx)
    if due is not None and ctx.now >= due:
        raise broken(ctx.policy, "extension-too-late",
                     f"The limit of {obligation.obligation_id} lapsed at {due.isoformat()}.")


@_check.register
def _(payload: ev.ExtensionRequested, state: EntryState, ctx: Context) -> None:
    obligation = _open_obligation(state, payload.obligation_id, ctx.policy)
    if obligation.extension_requested:
        raise broken(ctx.policy, "extension-must-be-requested", "A request is already pending.")
    _extension_bound(obligation, ctx)
    _before_lapse(obligation, ctx)


def _requested(state: EntryState, obligation_id: str, ctx: Context) -> Obligation:
    obligation = _open_obligation(state, obligation_id, ctx.policy)
    if not obligation.extension_requested:
        raise broken(ctx.policy, "extension-must-be-requested", f"No request on {obligation_id}.")
    return obligation


@_check.register
def _(payload: ev.ExtensionGranted, state: EntryState, ctx: Context) -> None:
    obligation = _requested(state, payload.obligation_id, ctx)
    _extension_bound(obligation, ctx)
    _before_lapse(obligation, ctx)


@_check.register
def _(payload: ev.ExtensionRefused, state: EntryState, ctx: Context) -> None:
    _requested(state, payload.obligation_id, ctx)


@_check.register
def _(payload: ev.AggregationRequired, state: EntryState, ctx: Context) -> None:
    if _blank(payload.reason):
        raise broken(ctx.policy, "aggregation-reason-required", "No reason given.")


@_check.register
def _(payload: ev.DataAggregated, state: EntryState, ctx: Context) -> None:
    if _blank(payload.platform):
        raise broken(ctx.policy, "aggregation-platform-required", "No platform named.")


@_check.register
def _(payload: ev.OpenDataRiskAssessed, state: EntryState, ctx: Context) -> None:
    if _blank(payload.reference):
        raise broken(ctx.policy, "assessment-reference-required", "")


@_check.register
def _(payload: ev.DataRefreshed, state: EntryState, ctx: Context) -> None:
    # Freshness is of the data on the platform: it runs once the data was aggregated there.
    if not state.aggregated:
        raise broken(ctx.policy, "data-must-be-aggregated", f"{state.entry_id}'s data was never aggregated.")


@singledispatch
def _evolve(payload: object, state: EntryState | None, event: Event) -> EntryState:
    raise TypeError(f"no catalog evolution for {type(payload).__name__}")


def evolve(state: EntryState | None, event: Event) -> EntryState:
    """The entry's state after an accepted event."""
    new = _evolve(event.payload, state, event)
    return replace(new, sequence=event.envelope.sequence)


def _sharing(attrs: ev.EntryAttributes) -> dict:
    """What of an entry's attributes later decisions read: share type, methods, grade, usage
    scope, whether desensitized provision is barred, the system whose data it is, its open type."""
    return dict(share_type=attrs.share_type.value, share_methods=tuple(sorted(m.value for m in attrs.share_methods)),
                security_level=attrs.security_level.strip(),
                usage_departments=tuple(sorted(d.strip() for d in attrs.usage_departments)),
                desensitization_barred=attrs.desensitization_barred,
                information_system=attrs.information_system.strip(), open_type=attrs.open_type.value)


@_evolve.register
def _(payload: ev.EntryRegistered, state: None, event: Event) -> EntryState:
    env = event.envelope
    return EntryState(entry_id=env.aggregate_id, provider=env.actor.department,
                      policy_id=env.policy_id, status=PUBLISHED, sequence=env.sequence,
                      version=1, item_codes=tuple(sorted(payload.attributes.item_codes)),
                      **_sharing(payload.attributes))


@_evolve.register
def _(payload: ev.EntryRevised, state: EntryState, event: Event) -> EntryState:
    return replace(state, version=state.version + 1,
                   item_codes=tuple(sorted(payload.attributes.item_codes)),
                   **_sharing(payload.attributes))


@_evolve.register
def _(payload: ev.EntryTakenDown, state: EntryState, event: Event) -> EntryState:
    return replace(state, status=TAKEN_DOWN, pending=None,
                   obligations=tuple(replace(o, open=False) for o in state.obligations))


@_evolve.register
def _(payload: ev.ChangeObligationRaised, state: EntryState, event: Event) -> EntryState:
    return state.with_obligation(Obligation(payload.obligation_id,
                                            received_on=payload.received_on.isoformat()))


@_evolve.register
def _(payload: ev.RevisionSubmitted, state: EntryState, event: Event) -> EntryState:
    pending = PendingRevision(payload.revision_id, tuple(sorted(payload.attributes.item_codes)),
                              payload.obligation_id, **_sharing(payload.attributes))
    return replace(state, pending=pending)


@_evolve.register
def _(payload: ev.RevisionApproved, state: EntryState, event: Event) -> EntryState:
    pending = state.pending
    approved = replace(state, version=state.version + 1, item_codes=pending.item_codes,
                       share_type=pending.share_type, share_methods=pending.share_methods,
                       security_level=pending.security_level, usage_departments=pending.usage_departments,
                       desensitization_barred=pending.desensitization_barred,
                       information_system=pending.information_system, open_type=pending.open_type, pending=None)
    fulfilled = state.obligation(pending.obligation_id)
    return approved.with_obligation(replace(fulfilled, open=False)) if fulfilled else approved


@_evolve.register
def _(payload: ev.RevisionRejected, state: EntryState, event: Event) -> EntryState:
    return replace(state, pending=None)


@_evolve.register
def _(payload: ev.ExtensionRequested, state: EntryState, event: Event) -> EntryState:
    return state.with_obligation(replace(state.obligation(payload.obligation_id),
                                         extension_requested=True))


@_evolve.register
def _(payload: ev.ExtensionGranted, state: EntryState, event: Event) -> EntryState:
    o = state.obligation(payload.obligation_id)
    return state.with_obligation(replace(o, extension_requested=False,
                                         extensions_granted=o.extensions_granted + 1))


@_evolve.register
def _(payload: ev.ExtensionRefused, state: EntryState, event: Event) -> EntryState:
    return state.with_obligation(replace(state.obligation(payload.obligation_id),
                                         extension_requested=False))


@_evolve.register
def _(payload: ev.DataAggregated, state: EntryState, event: Event) -> EntryState:
    return replace(state, aggregated=True)


@_evolve.register
def _(payload: ev.OpenDataRiskAssessed, state: EntryState, event: Event) -> EntryState:
    return replace(state, open_risk_assessed=True)


@_evolve.register(ev.AggregationRequired)
@_evolve.register(ev.DataRefreshed)
def _(payload, state: EntryState, event: Event) -> EntryState:
    return state


def obligations_concerned(state: EntryState | None, event: Event) -> tuple[set[str], bool]:
    """Which of an entry's obligations deciding and applying `event` reads: those it names,
    the one a pending revision fulfils, and (second) whether it needs every open one (a
    takedown ends them all). The validator keeps obligations beside the state and loads only
    these, so an entry's state does not grow with every obligation it ever had."""
    named = {getattr(event.payload, "obligation_id", None)}
    if state is not None and state.pending is not None:
        named.add(state.pending.obligation_id)
    named.discard(None)
    return named, isinstance(event.payload, ev.EntryTakenDown)


def active_item_codes(state: EntryState) -> tuple[str, ...]:
    """The data items this entry is the source of: none once it is taken down."""
    return state.item_codes if state.status == PUBLISHED else ()
