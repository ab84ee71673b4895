"""The rules of an entrustment (events/entrustment.py): the data authority approves, once, a
department of its own jurisdiction entrusting a named contractor, or cooperating with a named
partner, for a purpose, under an approval document (for cooperation, the written agreement),
until a day not yet past."""
from __future__ import annotations

from events import entrustment as ev
from events.codec import Event
from processors.rules.consult import Consult
from processors.rules.jurisdiction import expect_next
from processors.rules.verdicts import broken

STATE = dict  # {"sequence": n}: an approval is recorded once


def decide(state: dict | None, event: Event, ctx: Consult) -> dict:
    """The entrustment's state once approved, or RuleBroken. `state`: None unless an approval
    was recorded under this id."""
    p: ev.EntrustmentApproved = event.payload
    policy = ctx.policy
    expect_next(policy, event, state and state["sequence"], creates=True,
                exists_rule="entrustment-already-approved", missing_rule="entrustment-already-approved")
    entrusting = ctx.department_of(p.department)
    if entrusting is None or entrusting.policy_id != policy.id:
        raise broken(policy, "entrustment-of-jurisdiction",
                     f"{p.department} is no department of {policy.jurisdiction or policy.id}.")
    if p.kind == ev.EntrustmentKind.COOPERATION and not p.reference.strip():
        raise broken(policy, "cooperation-agreement-required", "No written cooperation agreement (书面合作协议) named.")
    blank = [name for name in ("contractor", "purpose", "reference") if not getattr(p, name).strip()]
    if blank:
        raise broken(policy, "entrustment-details-required", f"Blank: {', '.join(blank)}.")
    if p.valid_until < ctx.received_on:
        raise broken(policy, "entrustment-details-required",
                     f"The approval ended on {p.valid_until}, before it was recorded on {ctx.received_on}.")
    return {"sequence": event.envelope.sequence}


def established(state: dict) -> dict:
    return {}
