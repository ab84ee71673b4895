"""Share-request rules (DOMAIN.md §2): pure decisions over a request's state.

Unconditional entries are granted on request; conditional ones, and desensitized provision of
non-shareable ones, go to the data authority, which may consult the provider; a refusal needs
a legal basis (provider) or reasons (authority); a refused requester may dispute once.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from events import sharing as sh
from events.catalog import LegalBasisKind, ShareType
from events.codec import Event
from events.envelope import Role
from processors import jurisdiction
from processors.catalog import PUBLISHED, EntryState
from processors.profiles import Department, Policy
from processors.verdicts import ACCEPTED, RuleBroken, Verdict, broken

GRANTED, PENDING, REJECTED, DISPUTED = "granted", "pending", "rejected", "disputed"
REFUSED, ESCALATED, REVOKED = "refused", "escalated", "revoked"


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


@dataclass(frozen=True, slots=True)
class Context:
    policy: Policy
    department: Department
    entry: EntryState | None


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


def _check(p: object, state: RequestState | None, event: Event, ctx: Context) -> None:
    actor = event.envelope.actor
    if isinstance(p, sh.RequestSubmitted):
        jurisdiction.require(actor.role == Role.USER, event, ctx, "a using department")
        entry = ctx.entry
        if entry is None:
            raise broken(ctx.policy, "entry-must-exist", f"No catalog entry {p.entry_id}.")
        if entry.status != PUBLISHED:
            raise broken(ctx.policy, "entry-taken-down", f"{p.entry_id} was taken down.")
        missing = sorted(set(p.items) - set(entry.item_codes))
        if missing or not p.items:
            raise broken(ctx.policy, "items-not-in-entry", f"Not in {p.entry_id}: {', '.join(missing) or 'none asked'}.")
        if entry.share_type == ShareType.NON_SHAREABLE and not p.desensitized:
            raise broken(ctx.policy, "non-shareable", f"{p.entry_id} is non-shareable.")
        if path_of(entry, p) != "auto" and not all(
                s.strip() for s in (p.purpose, p.scenario, p.business_process)):
            raise broken(ctx.policy, "request-details-required", "Purpose, scenario or process missing.")
    elif isinstance(p, sh.ProviderConsulted):
        jurisdiction.require_authority(event, ctx)
        _status(state, ctx, "request-not-pending", PENDING)
    elif isinstance(p, sh.ProviderAnswered):
        jurisdiction.require(actor.role == Role.PROVIDER and actor.department == state.provider, event, ctx,
                 f"the provider {state.provider}")
        _status(state, ctx, "request-not-pending", PENDING)
        basis = p.legal_basis
        if not p.agrees and (basis is None or basis.kind == LegalBasisKind.INTERNAL_RULE):
            raise broken(ctx.policy, "refusal-needs-legal-basis", "The refusal cites no law, regulation or rule.")
    elif isinstance(p, (sh.RequestApproved, sh.RequestRejected)):
        jurisdiction.require_authority(event, ctx)
        _status(state, ctx, "request-not-pending", PENDING)
        if isinstance(p, sh.RequestRejected) and not p.reasons.strip():
            raise broken(ctx.policy, "rejection-needs-reasons", "")
    elif isinstance(p, sh.RequestDisputed):
        jurisdiction.require(actor.role == Role.USER and actor.department == state.requester, event, ctx,
                 f"the requester {state.requester}")
        _status(state, ctx, "dispute-needs-refusal", REJECTED)
    elif isinstance(p, sh.DisputeDecided):
        jurisdiction.require_authority(event, ctx)
        _status(state, ctx, "dispute-needs-refusal", DISPUTED)
    elif isinstance(p, sh.GrantRevoked):
        jurisdiction.require(actor.role == Role.DATA_AUTHORITY and ctx.department.authority
                 or actor.role == Role.PROVIDER and actor.department == state.provider,
                 event, ctx, "the data authority or the provider")
        _status(state, ctx, "grant-must-be-open", GRANTED)


def path_of(entry: EntryState, p: sh.RequestSubmitted) -> str:
    if p.desensitized:
        return "desensitized"
    return "auto" if entry.share_type == ShareType.UNCONDITIONAL else "conditional"


_DISPUTE = {sh.DisputeOutcome.GRANT: GRANTED, sh.DisputeOutcome.UPHOLD_REFUSAL: REFUSED,
            sh.DisputeOutcome.ESCALATE: ESCALATED}


def evolve(state: RequestState | None, event: Event, ctx: Context) -> RequestState:
    p, env = event.payload, event.envelope
    if isinstance(p, sh.RequestSubmitted):
        path = path_of(ctx.entry, p)
        return RequestState(request_id=env.aggregate_id, entry_id=p.entry_id,
                            requester=env.actor.department, provider=ctx.entry.provider,
                            policy_id=env.policy_id, status=GRANTED if path == "auto" else PENDING,
                            path=path, sequence=env.sequence)
    status = {sh.RequestApproved: GRANTED, sh.RequestRejected: REJECTED,
              sh.RequestDisputed: DISPUTED, sh.GrantRevoked: REVOKED}.get(type(p), state.status)
    if isinstance(p, sh.DisputeDecided):
        status = _DISPUTE[p.outcome]
    return replace(state, status=status, sequence=env.sequence,
                   disputed_once=state.disputed_once or isinstance(p, sh.RequestDisputed))
