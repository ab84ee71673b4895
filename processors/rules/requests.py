"""Share-request rules (DOMAIN.md §2): pure decisions over a request's state.

A using department requests what another provides: an entry's provider holds its data already
and requests none of it. Unconditional entries are granted on request (unless the data would
land at the user by exchange); conditional ones, and desensitized provision of non-shareable
ones, go to the data authority of the entry's jurisdiction, which approves only once the
provider agreed; a refusal needs a legal basis (provider) or reasons (authority) and is
overturned only by deciding a dispute; a refused requester may dispute once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import singledispatch
from datetime import date, datetime

from events import sharing as sh
from events.catalog import LegalBasis, LegalBasisKind, ShareMethod, ShareType
from events.codec import Event
from events.envelope import Role
from processors.rules import jurisdiction
from processors.rules.catalog import PUBLISHED, EntryState, grade_of, uncited
from processors.profiles import Department, Policy
from processors.rules.working_days import local_day
from processors.rules.verdicts import ACCEPTED, RuleBroken, Verdict, broken

GRANTED, PENDING, REJECTED, DISPUTED = "granted", "pending", "rejected", "disputed"
REFUSED, ESCALATED, REVOKED, RETRACTED = "refused", "escalated", "revoked", "retracted"


@dataclass(frozen=True, slots=True)
class RequestState:
    request_id: str
    entry_id: str
    requester: str
    provider: str
    policy_id: str
    status: str
    path: str  # auto | conditional | desensitized
    sequence: int
    disputed_once: bool = False
    provider_answer: str = ""  # "", AGREED or REFUSED: the provider's latest answer
    method: str = ""  # as asked; "" in a state stored before it was kept
    exchange_assessed: bool = False  # ExchangeAssessed on record (Ningbo Art. 19)


AGREED, REFUSED_BY_PROVIDER = "agreed", "refused"


@dataclass(frozen=True, slots=True)
class Context:
    policy: Policy
    department: Department
    entry: EntryState | None
    # The profile of the entry's jurisdiction: its data authority reviews, its rules decide the
    # review path (None only where the entry is unknown).
    entry_policy: Policy | None = None
    received_on: date | None = None  # the day the validator received the event, in its zone

    @property
    def review(self) -> Policy:
        return self.entry_policy or self.policy


def context(policy: Policy, department: Department, entry: EntryState | None, policies, received: datetime) -> Context:
    """What a decision on a request consults: it is reviewed under its entry's jurisdiction, on
    the day it arrived there."""
    return Context(policy, department, entry, entry_policy=policies.policy(entry.policy_id) if entry else None,
                   received_on=local_day(received, policy.timezone))


def established(state: RequestState) -> dict:
    """What the validator records on an accepted event: the provider and the request's path."""
    return dict(provider=state.provider, route=state.path)


def decide(state: RequestState | None, event: Event, ctx: Context) -> Verdict:
    try:
        jurisdiction.expect_next(ctx.policy, event, state.sequence if state else None,
                                 creates=isinstance(event.payload, sh.RequestSubmitted),
                                 exists_rule="request-already-submitted",
                                 missing_rule="request-must-exist")
        _check(event.payload, state, event, ctx)
    except RuleBroken as stop:
        return stop.rejected
    return ACCEPTED


def _status(state: RequestState, ctx: Context, rule: str, *allowed: str) -> None:
    if state.status not in allowed:
        raise broken(ctx.policy, rule, f"{state.request_id} is {state.status}.")


@singledispatch
def _check(p: object, state: RequestState | None, event: Event, ctx: Context) -> None:
    raise TypeError(f"no request rule for {type(p).__name__}")


@_check.register
def _(p: sh.RequestSubmitted, state: RequestState | None, event: Event, ctx: Context) -> None:
    _check_submission(p, event, ctx)


@_check.register
def _(p: sh.ProviderConsulted, state: RequestState, event: Event, ctx: Context) -> None:
    _require_entry_authority(event, ctx)
    _status(state, ctx, "request-not-pending", PENDING)


@_check.register
def _(p: sh.ProviderAnswered, state: RequestState, event: Event, ctx: Context) -> None:
    _require_provider(state, event, ctx)
    _status(state, ctx, "request-not-pending", PENDING)
    if not p.agrees:
        _require_legal_basis(p.legal_basis, ctx, "The refusal")


@_check.register
def _(p: sh.RequestApproved, state: RequestState, event: Event, ctx: Context) -> None:
    _require_entry_authority(event, ctx)
    _status(state, ctx, "request-not-pending", PENDING)
    _check_provider_agreed(state, ctx)
    _check_exchange_assessed(state, ctx)


@_check.register
def _(p: sh.ExchangeAssessed, state: RequestState, event: Event, ctx: Context) -> None:
    # The entry's authority records the city's assessment for a waiting exchange (Ningbo Art. 19).
    _require_entry_authority(event, ctx)
    _status(state, ctx, "request-not-pending", PENDING, DISPUTED)
    _require_text(p.reference, ctx, "assessment-reference-required")


@_check.register
def _(p: sh.RequestRejected, state: RequestState, event: Event, ctx: Context) -> None:
    _require_entry_authority(event, ctx)
    _status(state, ctx, "request-not-pending", PENDING)
    _require_text(p.reasons, ctx, "rejection-needs-reasons")


def _requester(state: RequestState, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    jurisdiction.require(actor.role == Role.USER and actor.department == state.requester, event, ctx,
                         f"the requester {state.requester}")


@_check.register
def _(p: sh.RequestDisputed, state: RequestState, event: Event, ctx: Context) -> None:
    _requester(state, event, ctx)
    _status(state, ctx, "dispute-needs-refusal", REJECTED)


@_check.register
def _(p: sh.RequestWithdrawn, state: RequestState, event: Event, ctx: Context) -> None:
    _requester(state, event, ctx)
    _status(state, ctx, "request-not-pending", PENDING, DISPUTED)


@_check.register
def _(p: sh.DisputeDecided, state: RequestState, event: Event, ctx: Context) -> None:
    _require_entry_authority(event, ctx)
    _status(state, ctx, "dispute-needs-refusal", DISPUTED)
    if p.outcome == sh.DisputeOutcome.GRANT:
        _check_exchange_assessed(state, ctx)


@_check.register
def _(p: sh.CrossBorderAssessed, state: RequestState, event: Event, ctx: Context) -> None:
    # The entry's authority records the assessment, for data it granted (Ningbo Art. 32).
    _require_entry_authority(event, ctx)
    _status(state, ctx, "grant-must-be-open", GRANTED)
    _require_text(p.reference, ctx, "assessment-reference-required")


@_check.register
def _(p: sh.LeadershipDecided, state: RequestState, event: Event, ctx: Context) -> None:
    # The leadership group of the entry's jurisdiction decides what its authority escalated.
    actor = event.envelope.actor
    jurisdiction.require(actor.role == Role.LEADERSHIP_GROUP, event, ctx, "the leadership group")
    review = ctx.review
    if ctx.department.policy_id != review.id:
        raise broken(review, "leadership-of-the-entry",
                     f"{actor.department} is the leadership group of {ctx.department.policy_id}; the "
                     f"request is reviewed under {review.id}, whose leadership group decides.")
    _status(state, ctx, "problem-must-be-escalated", ESCALATED)
    _require_text(p.reasons, ctx, "leadership-reasons-required")


@_check.register
def _(p: sh.GrantRevoked, state: RequestState, event: Event, ctx: Context) -> None:
    _check_revocation(p, state, event, ctx)


def _check_submission(p: sh.RequestSubmitted, event: Event, ctx: Context) -> None:
    jurisdiction.require(event.envelope.actor.role == Role.USER, event, ctx, "a using department")
    entry = ctx.entry
    if entry is None:
        raise broken(ctx.policy, "entry-must-exist", f"No catalog entry {p.entry_id}.")
    if entry.provider == event.envelope.actor.department:
        # Under the entry's jurisdiction, whose text says who requests from whom.
        raise broken(ctx.review, "requester-is-provider", f"{entry.provider} provides {p.entry_id}.")
    if entry.status != PUBLISHED:
        raise broken(ctx.policy, "entry-taken-down", f"{p.entry_id} was taken down.")
    missing = sorted(set(p.items) - set(entry.item_codes))
    if missing or not p.items:
        raise broken(ctx.policy, "items-not-in-entry", f"Not in {p.entry_id}: {', '.join(missing) or 'none asked'}.")
    if entry.share_type == ShareType.NON_SHAREABLE and not p.desensitized:
        raise broken(ctx.policy, "non-shareable", f"{p.entry_id} is non-shareable.")
    if entry.usage_departments and event.envelope.actor.department not in entry.usage_departments:
        raise broken(ctx.review, "outside-usage-scope",
                     f"{p.entry_id}'s usage scope admits {', '.join(entry.usage_departments)}.")
    if p.desensitized and entry.desensitization_barred:
        raise broken(ctx.review, "desensitization-barred",
                     f"A law bars even desensitized provision of {p.entry_id}.")
    grade = grade_of(entry.security_level, ctx.review)
    if p.desensitized and grade is not None and not grade.desensitized:
        raise broken(ctx.review, "security-grade-not-allowed",
                     f"{p.entry_id} is graded {grade.id} ({grade.label}): not provided desensitized.")
    if not (p.purpose.strip() and p.business_process.strip()):
        raise broken(ctx.policy, "purpose-required", "The purpose or the business process is blank.")
    if path_of(entry, p, ctx.review) != "auto" and not p.scenario.strip():
        raise broken(ctx.policy, "request-details-required", "The scenario is blank.")
    if ctx.received_on is not None and p.period_end < ctx.received_on:
        raise broken(ctx.policy, "share-period-ended",
                     f"The period ended on {p.period_end}, before the request arrived on {ctx.received_on}.")
    if entry.share_methods and p.method.value not in entry.share_methods:
        raise broken(ctx.review, "method-not-offered",
                     f"{p.entry_id} offers {', '.join(entry.share_methods)}, not {p.method.value}.")
    _check_system_type(p, ctx)


# The method each kind of system shares by (Ningbo Art. 19); exchange only once assessed.
_METHOD_OF = {sh.SystemType.SERVICE: ShareMethod.INTERFACE, sh.SystemType.ANALYSIS: ShareMethod.PLATFORM_ANALYSIS}


def _check_system_type(p: sh.RequestSubmitted, ctx: Context) -> None:
    """Where the entry's profile says so, a service system shares by interface and an analysis
    system by the platform's analysis; exchange is the assessed exception for either."""
    if p.system_type is None or not ctx.review.applies("method-by-system-type"):
        return
    wanted = _METHOD_OF[p.system_type]
    if p.method not in (wanted, ShareMethod.EXCHANGE):
        raise broken(ctx.review, "method-by-system-type",
                     f"The request's {p.system_type.value} system shares by {wanted.value} (or by an assessed exchange), "
                     f"not {p.method.value}.")


def _check_exchange_assessed(state: RequestState, ctx: Context) -> None:
    """Data lands at the user by exchange only after the assessment (Ningbo Art. 19: 论证)."""
    if state.method == ShareMethod.EXCHANGE.value and not state.exchange_assessed \
            and ctx.review.applies("exchange-needs-assessment"):
        raise broken(ctx.review, "exchange-needs-assessment",
                     f"{state.request_id} asks for an exchange, and no assessment (ExchangeAssessed) is on record.")


def _require_entry_authority(event: Event, ctx: Context) -> None:
    """The data authority that reviews a request is the one of the entry's jurisdiction: an
    authority elsewhere, acting under its own profile, decides nothing here."""
    jurisdiction.require_authority(event, ctx)
    review = ctx.review
    if ctx.policy.jurisdiction != review.jurisdiction:
        raise broken(review, "authority-of-the-entry",
                     f"{event.envelope.actor.department} is the data authority of {ctx.policy.jurisdiction}; "
                     f"the entry {ctx.entry.entry_id if ctx.entry else ''} is of {review.jurisdiction}.")


def _require_provider(state: RequestState, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    jurisdiction.require(actor.role == Role.PROVIDER and actor.department == state.provider, event, ctx,
                         f"the provider {state.provider}")


def _require_legal_basis(basis: LegalBasis | None, ctx: Context, what: str) -> None:
    """Refusing or withdrawing data the law makes shareable needs a law, regulation or rule;
    a department's internal rule is none (GD-2018 Art. 16)."""
    if basis is None or basis.kind == LegalBasisKind.INTERNAL_RULE:
        raise broken(ctx.policy, "refusal-needs-legal-basis", f"{what} cites no law, regulation or rule.")
    blank = uncited(basis)
    if blank:
        raise broken(ctx.policy, "refusal-needs-legal-basis", f"{what}'s legal basis cites no {' and no '.join(blank)}.")


def _require_text(text: str, ctx: Context, rule: str) -> None:
    if not text.strip():
        raise broken(ctx.policy, rule, "")


def _check_provider_agreed(state: RequestState, ctx: Context) -> None:
    """Joint review: the provider's agreement comes before the authority's approval; a refusal with a legal basis is overturned only by deciding a
    dispute, so the trail shows who overruled it and why."""
    review = ctx.review
    if state.provider_answer == REFUSED_BY_PROVIDER:
        raise broken(review, "provider-refusal-stands",
                     f"{state.provider} refused with a legal basis: reject, and the requester may dispute.")
    if state.provider_answer != AGREED and _needs_provider(ctx):
        raise broken(review, "provider-agreement-first", f"{state.provider} has not agreed yet.")


def _needs_provider(ctx: Context) -> bool:
    """The provider's agreement is needed for data it may restrict: a conditional or
    non-shareable entry. An exchange of unconditional data is reviewed for its method only."""
    return ctx.entry is not None and ctx.entry.share_type != ShareType.UNCONDITIONAL


def _check_revocation(p: sh.GrantRevoked, state: RequestState, event: Event, ctx: Context) -> None:
    """Withdrawing data the law makes shareable is a refusal: the provider cites a legal basis,
    the authority gives reasons."""
    actor = event.envelope.actor
    if actor.role == Role.PROVIDER:
        _require_provider(state, event, ctx)
    else:
        _require_entry_authority(event, ctx)
    _status(state, ctx, "grant-must-be-open", GRANTED)
    if actor.role == Role.PROVIDER:
        _require_legal_basis(p.legal_basis, ctx, "The revocation")
    _require_text(p.reason, ctx, "revocation-needs-reasons")


def path_of(entry: EntryState, p: sh.RequestSubmitted, review: Policy) -> str:
    """Only unconditional data by a method that leaves it where it is, of a grade that allows
    it, takes the automatic route: an exchange lands the data at the user and is the
    authority's to decide, as is data whose grade (under the entry's profile) grants nothing
    automatically."""
    if p.desensitized:
        return "desensitized"
    grade = grade_of(entry.security_level, review)
    automatic = entry.share_type == ShareType.UNCONDITIONAL and p.method != ShareMethod.EXCHANGE \
        and (grade is None or grade.automatic)
    return "auto" if automatic else "conditional"


_DISPUTE = {sh.DisputeOutcome.GRANT: GRANTED, sh.DisputeOutcome.UPHOLD_REFUSAL: REFUSED,
            sh.DisputeOutcome.ESCALATE: ESCALATED}


def evolve(state: RequestState | None, event: Event, ctx: Context) -> RequestState:
    """The request's state after an accepted event."""
    return _evolve(event.payload, state, event, ctx)


@singledispatch
def _evolve(p: object, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence)


@_evolve.register
def _(p: sh.RequestSubmitted, state: None, event: Event, ctx: Context) -> RequestState:
    env, path = event.envelope, path_of(ctx.entry, p, ctx.review)
    return RequestState(request_id=env.aggregate_id, entry_id=p.entry_id, requester=env.actor.department,
                        provider=ctx.entry.provider, policy_id=env.policy_id,
                        status=GRANTED if path == "auto" else PENDING, path=path, sequence=env.sequence,
                        method=p.method.value)


@_evolve.register
def _(p: sh.ProviderConsulted, state: RequestState, event: Event, ctx: Context) -> RequestState:
    # A new consultation asks the provider again: its earlier answer no longer stands.
    return replace(state, sequence=event.envelope.sequence, provider_answer="")


@_evolve.register
def _(p: sh.ProviderAnswered, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence,
                   provider_answer=AGREED if p.agrees else REFUSED_BY_PROVIDER)


@_evolve.register
def _(p: sh.RequestApproved, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=GRANTED)


@_evolve.register
def _(p: sh.RequestRejected, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=REJECTED)


@_evolve.register
def _(p: sh.RequestDisputed, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=DISPUTED, disputed_once=True)


@_evolve.register
def _(p: sh.RequestWithdrawn, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=RETRACTED)


@_evolve.register
def _(p: sh.DisputeDecided, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=_DISPUTE[p.outcome])


@_evolve.register
def _(p: sh.CrossBorderAssessed, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence)


@_evolve.register
def _(p: sh.ExchangeAssessed, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, exchange_assessed=True)


@_evolve.register
def _(p: sh.LeadershipDecided, state: RequestState, event: Event, ctx: Context) -> RequestState:
    status = GRANTED if p.outcome == sh.LeadershipOutcome.GRANT else REFUSED
    return replace(state, sequence=event.envelope.sequence, status=status)


@_evolve.register
def _(p: sh.GrantRevoked, state: RequestState, event: Event, ctx: Context) -> RequestState:
    return replace(state, sequence=event.envelope.sequence, status=REVOKED)
