"""The rules of a request for data outside the catalog (events/uncatalogued.py, GD-2008 Art.
21-22): a using department asks another department, which it names, for data it describes and
says what for; only that department answers, once, and a refusal says why."""
from __future__ import annotations

from events import uncatalogued as ev
from events.codec import Event
from events.envelope import Role
from processors.rules.consult import Consult
from processors.rules.jurisdiction import expect_next
from processors.rules.verdicts import broken

PENDING, PROVIDED, REFUSED = "pending", "provided", "refused"
STATE = dict  # requester, holder, status, sequence


def decide(state: dict | None, event: Event, ctx: Consult) -> dict:
    """The request's state after the event, or RuleBroken. `state`: its state so far (None
    before it was asked)."""
    p, env, policy = event.payload, event.envelope, ctx.policy
    expect_next(policy, event, state and state["sequence"], creates=isinstance(p, ev.UncataloguedDataRequested),
                exists_rule="request-already-submitted", missing_rule="request-must-exist")
    if isinstance(p, ev.UncataloguedDataRequested):
        holder = ctx.department_of(p.holder)
        if holder is None or "PROVIDER" not in holder.roles:
            raise broken(policy, "holder-unknown", f"{p.holder} is no providing department of the directory.")
        if p.holder == env.actor.department:
            raise broken(policy, "requester-is-holder", f"{p.holder} holds the data it asks for.")
        blank = [name for name in ("description", "purpose", "business_process") if not getattr(p, name).strip()]
        if blank:
            raise broken(policy, "uncatalogued-details-required", f"Blank: {', '.join(blank)}.")
        return {"sequence": env.sequence, "requester": env.actor.department, "holder": p.holder, "status": PENDING}
    if env.actor.role != Role.PROVIDER or env.actor.department != state["holder"]:
        raise broken(policy, "actor-not-permitted", f"Only {state['holder']}, the department asked, answers.")
    if state["status"] != PENDING:
        raise broken(policy, "request-not-pending", f"{env.aggregate_id} was answered already.")
    if not p.agrees and not p.reasons.strip():
        raise broken(policy, "uncatalogued-refusal-needs-reasons", "A refusal says why, in writing.")
    return {**state, "sequence": env.sequence, "status": PROVIDED if p.agrees else REFUSED}


def established(state: dict) -> dict:
    """The holder is who must answer: the deadline engine reads it from the accepted event."""
    return {"provider": state["holder"]}
