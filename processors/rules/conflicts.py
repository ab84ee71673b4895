"""The rules of a conflict of values (events/conflict.py, GD-2018 Art. 13): two published
entries of two providers of one jurisdiction; the providers negotiate or refer it, once, while it
is open; only the data authority of that jurisdiction coordinates what was referred."""
from __future__ import annotations

from dataclasses import dataclass

from events import conflict as ev
from events.codec import Event
from events.envelope import Role
from processors.profiles import Policy
from processors.rules.consult import Consult
from processors.rules import jurisdiction
from processors.rules.catalog import PUBLISHED, EntryState
from processors.rules.verdicts import broken

OPEN, NEGOTIATED, REFERRED, COORDINATED = "open", "negotiated", "referred", "coordinated"


@dataclass(frozen=True, slots=True)
class ConflictState:
    conflict_id: str
    policy_id: str  # the jurisdiction both entries are of
    providers: tuple[str, ...]  # the two whose data differ
    status: str
    sequence: int


STATE = ConflictState


def decide(state: ConflictState | None, event: Event, ctx: Consult) -> ConflictState:
    """The conflict's state after the event, or RuleBroken."""
    p, env, policy, department = event.payload, event.envelope, ctx.policy, ctx.department
    jurisdiction.expect_next(policy, event, state.sequence if state else None,
                             creates=isinstance(p, ev.ValueConflictReported),
                             exists_rule="conflict-already-reported", missing_rule="conflict-must-exist")
    if isinstance(p, ev.ValueConflictReported):
        found = _reported(p, event, policy, (ctx.entry(p.entry_id), ctx.entry(p.other_entry_id)))
        if env.actor.role == Role.DATA_AUTHORITY:
            jurisdiction.require_authority_of(department, found.policy_id, policy)
        return found
    if isinstance(p, ev.ConflictCoordinated):
        jurisdiction.require_authority_of(department, state.policy_id, policy)
        if state.status != REFERRED:
            raise broken(policy, "conflict-not-referred", f"{state.conflict_id} is {state.status}.")
        _said(p.decision, policy)
        return _next(state, env.sequence, COORDINATED)
    if env.actor.department not in state.providers:
        raise broken(policy, "actor-not-permitted",
                     f"Only {' or '.join(state.providers)}, whose data differ, negotiate or refer it.")
    if state.status != OPEN:
        raise broken(policy, "conflict-not-open", f"{state.conflict_id} is {state.status}.")
    if isinstance(p, ev.ConflictNegotiated):
        _said(p.agreement, policy)
        return _next(state, env.sequence, NEGOTIATED)
    _said(p.reason, policy)
    return _next(state, env.sequence, REFERRED)


def _reported(p: ev.ValueConflictReported, event: Event, policy: Policy,
              entries: tuple[EntryState | None, EntryState | None]) -> ConflictState:
    missing = [e for e, found in zip((p.entry_id, p.other_entry_id), entries) if found is None
               or found.status != PUBLISHED]
    if missing:
        raise broken(policy, "entry-must-exist", f"No published entry {', '.join(missing)}.")
    first, second = entries
    if first.provider == second.provider:
        raise broken(policy, "conflict-needs-two-providers",
                     f"{first.provider} provides both: it corrects its own data (one data, one source).")
    if first.policy_id != second.policy_id:
        raise broken(policy, "conflict-of-one-jurisdiction",
                     f"{p.entry_id} is of {first.policy_id}, {p.other_entry_id} of {second.policy_id}.")
    _said(p.description, policy)
    return ConflictState(event.envelope.aggregate_id, first.policy_id, (first.provider, second.provider), OPEN,
                         event.envelope.sequence)


def _said(text: str, policy: Policy) -> None:
    if not text.strip():
        raise broken(policy, "conflict-details-required", "")


def established(state: ConflictState) -> dict:
    """The first provider names the conflict's party on the accepted event; the deadline engine
    finds both from the entries."""
    return {"provider": state.providers[0]}


def _next(state: ConflictState, sequence: int, status: str) -> ConflictState:
    return ConflictState(state.conflict_id, state.policy_id, state.providers, status, sequence)
