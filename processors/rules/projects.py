"""The rules of an information-system project (events/project.py; GD-2018 Art. 11; Ningbo Art.
9, 11): the department submits its project with the entries that catalog the system's data, each
published, its own and naming the system; the data authority of its jurisdiction reviews it once,
with an opinion, and approves it only while that data is still catalogued."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from events import project as ev
from events.codec import Event
from processors.profiles import Policy
from processors.rules.consult import Consult
from processors.rules import jurisdiction
from processors.rules.catalog import PUBLISHED, EntryState
from processors.rules.verdicts import broken

SUBMITTED, APPROVED, REFUSED = "submitted", "approved", "refused"


@dataclass(frozen=True, slots=True)
class ProjectState:
    project_id: str
    department: str
    policy_id: str
    system: str
    entries: tuple[str, ...]
    status: str
    sequence: int


STATE = ProjectState


def decide(state: ProjectState | None, event: Event, ctx: Consult) -> ProjectState:
    """The project's state after the event, or RuleBroken."""
    p, env, policy, department, entry = event.payload, event.envelope, ctx.policy, ctx.department, ctx.entry
    jurisdiction.expect_next(policy, event, state.sequence if state else None,
                             creates=isinstance(p, ev.SystemProjectSubmitted),
                             exists_rule="project-already-submitted", missing_rule="project-must-exist")
    if isinstance(p, ev.SystemProjectSubmitted):
        if not (p.system.strip() and p.description.strip()):
            raise broken(policy, "project-details-required", "The system's name or description is blank.")
        _catalogued(p.system, p.entries, env.actor.department, policy, entry)
        return ProjectState(env.aggregate_id, env.actor.department, department.policy_id, p.system.strip(),
                            tuple(p.entries), SUBMITTED, env.sequence)
    jurisdiction.require_authority_of(department, state.policy_id, policy)
    if state.status != SUBMITTED:
        raise broken(policy, "project-already-reviewed", f"{state.project_id} is {state.status}.")
    if not p.opinion.strip():
        raise broken(policy, "project-details-required", "The review gives no opinion.")
    if p.approved:
        _catalogued(state.system, state.entries, state.department, policy, entry)
    return ProjectState(state.project_id, state.department, state.policy_id, state.system, state.entries,
                        APPROVED if p.approved else REFUSED, env.sequence)


def established(state: ProjectState) -> dict:
    return {}


def _catalogued(system: str, entries: tuple[str, ...], department: str, policy: Policy,
                entry: Callable[[str], EntryState | None]) -> None:
    """The system's data is catalogued: at least one entry, each published, the department's
    own, and naming the system as its information system."""
    if not entries:
        raise broken(policy, "system-data-not-catalogued", f"{system} names no catalog entry of its data.")
    for entry_id in entries:
        found = entry(entry_id)
        if found is None or found.status != PUBLISHED or found.provider != department:
            raise broken(policy, "system-data-not-catalogued",
                         f"{entry_id} is no published entry of {department}.")
        if found.information_system != system.strip():
            raise broken(policy, "system-data-not-catalogued",
                         f"{entry_id} catalogues the data of {found.information_system or 'no system'}, not {system}.")
