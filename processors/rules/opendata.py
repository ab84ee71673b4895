"""The rules of an open-data application (events/opendata.py; Ningbo Art. 25, 32): the data
authority of the entry's jurisdiction submits it for a conditionally open entry whose opening
risk was assessed, with the applicant's use, scenario and security measures; the entry's
provider assesses it; the authority approves it only after the provider agreed and with the
data-use agreement signed, or refuses it with reasons."""
from __future__ import annotations

from dataclasses import dataclass, replace

from events import opendata as ev
from events.catalog import OpenType
from events.codec import Event
from processors.profiles import Department, Policy
from processors.rules.consult import Consult
from processors.rules import jurisdiction
from processors.rules.catalog import PUBLISHED, EntryState
from processors.rules.verdicts import broken

SUBMITTED, APPROVED, REFUSED = "submitted", "approved", "refused"


@dataclass(frozen=True, slots=True)
class ApplicationState:
    application_id: str
    entry_id: str
    provider: str
    policy_id: str  # the entry's jurisdiction, whose authority decides
    status: str
    sequence: int
    provider_agrees: bool | None = None  # the provider's assessment, None before it


STATE = ApplicationState


def decide(state: ApplicationState | None, event: Event, ctx: Consult) -> ApplicationState:
    """The application's state after the event, or RuleBroken."""
    p, env, policy, department = event.payload, event.envelope, ctx.policy, ctx.department
    jurisdiction.expect_next(policy, event, state.sequence if state else None,
                             creates=isinstance(p, ev.OpenDataApplied),
                             exists_rule="open-application-already-submitted", missing_rule="open-application-must-exist")
    if isinstance(p, ev.OpenDataApplied):
        return _applied(p, event, policy, department, ctx.entry(p.entry_id))
    if state.status != SUBMITTED:
        raise broken(policy, "open-application-decided", f"{state.application_id} is {state.status}.")
    if isinstance(p, ev.OpenDataProviderAssessed):
        if env.actor.department != state.provider:
            raise broken(policy, "actor-not-permitted", f"Only {state.provider}, the entry's provider, assesses it.")
        if not p.agrees and not p.reasons.strip():
            raise broken(policy, "open-application-reasons-required", "A refusal says why.")
        return _with(state, env.sequence, provider_agrees=p.agrees)
    jurisdiction.require_authority_of(department, state.policy_id, policy)
    if p.approved:
        if state.provider_agrees is not True:
            raise broken(policy, "open-data-provider-assessment-first",
                         f"{state.provider} has not agreed to open the data to the applicant.")
        if not p.agreement.strip():
            raise broken(policy, "open-data-agreement-required", "No data-use agreement (数据利用协议) named.")
        return _with(state, env.sequence, status=APPROVED)
    if not p.reasons.strip():
        raise broken(policy, "open-application-reasons-required", "A refusal says why.")
    return _with(state, env.sequence, status=REFUSED)


def _applied(p: ev.OpenDataApplied, event: Event, policy: Policy, department: Department,
             entry: EntryState | None) -> ApplicationState:
    if entry is None or entry.status != PUBLISHED:
        raise broken(policy, "entry-must-exist", f"No published entry {p.entry_id}.")
    jurisdiction.require_authority_of(department, entry.policy_id, policy)
    if entry.open_type == OpenType.OPEN.value:
        raise broken(policy, "open-application-not-needed", f"{p.entry_id} is open: anyone uses it unapplied.")
    if entry.open_type != OpenType.CONDITIONAL_OPEN.value:
        raise broken(policy, "not-openable", f"{p.entry_id} is not open to the public.")
    if not entry.open_risk_assessed:
        raise broken(policy, "open-data-needs-risk-assessment", f"No security risk assessment of {p.entry_id} on record.")
    blank = [name for name in ("applicant", "purpose", "scenario", "security_measures")
             if not getattr(p, name).strip()]
    if blank:
        raise broken(policy, "open-application-details-required", f"Blank: {', '.join(blank)}.")
    return ApplicationState(event.envelope.aggregate_id, p.entry_id, entry.provider, entry.policy_id, SUBMITTED,
                            event.envelope.sequence)


def established(state: ApplicationState) -> dict:
    """The entry's provider assesses the application."""
    return {"provider": state.provider}


def _with(state: ApplicationState, sequence: int, **changes) -> ApplicationState:
    return replace(state, sequence=sequence, **changes)
