"""Which policy and department an event acts under: the first check of every workflow."""
from __future__ import annotations

from typing import Callable

from events.codec import Event
from events.envelope import Role
from processors.profiles import Department, Policies, Policy
from processors.rules.verdicts import broken


def resolve(event: Event, policies: Policies,
            departments: Callable[[str], Department | None] | None = None) -> tuple[Policy, Department]:
    """Raises RuleBroken for an unknown policy or department, or a department acting under
    another jurisdiction's policy. An event that names no policy acts under its department's.
    `departments`: the directory to look the actor up in (the validator's, as it stood when
    the event was received); by default the policies' file."""
    env = event.envelope
    department = (departments or policies.department)(env.actor.department)
    policy = policies.policy(env.policy_id or (department.policy_id if department else ""))
    if policy is None and env.policy_id:
        raise broken(policies.baseline, "policy-unknown", f"Unknown policy {env.policy_id!r}.")
    if department is None:
        raise broken(policy or policies.baseline, "department-unknown",
                     f"Unknown department {env.actor.department!r}.")
    if department.policy_id != policy.id:
        raise broken(policy, "jurisdiction-mismatch",
                     f"{department.id} belongs to {department.policy_id}, not {policy.id}.")
    return policy, department


def expect_next(policy: Policy, event: Event, sequence: int | None, *, creates: bool,
                exists_rule: str, missing_rule: str) -> None:
    """An aggregate is created once, changed only once created, and in sequence.

    `sequence` is the aggregate's last applied sequence, None if it does not exist."""
    env = event.envelope
    if creates and sequence is not None:
        raise broken(policy, exists_rule, f"{env.aggregate_id} exists.")
    if not creates and sequence is None:
        raise broken(policy, missing_rule, f"No {env.aggregate_type} {env.aggregate_id}.")
    expected = 1 if creates else sequence + 1
    if env.sequence != expected:
        raise broken(policy, "sequence-out-of-order",
                     f"{env.aggregate_id} expects sequence {expected}, got {env.sequence}.")


def require(allowed: bool, event: Event, ctx, who: str) -> None:
    """Stop with actor-not-permitted unless `allowed`; `ctx` has the policy and department."""
    if not allowed:
        actor = event.envelope.actor
        raise broken(ctx.policy, "actor-not-permitted",
                     f"{actor.department} acting as {actor.role.value} may not publish "
                     f"{event.envelope.event_type}: only {who} may.")


def require_authority(event: Event, ctx) -> None:
    """The data authority of the subject's jurisdiction (`ctx.policy`, the profile the subject
    is judged under): an authority elsewhere decides nothing here."""
    require(event.envelope.actor.role == Role.DATA_AUTHORITY and ctx.department.authority,
            event, ctx, "the data authority")
    require_of_jurisdiction(event, ctx)


def require_of_jurisdiction(event: Event, ctx) -> None:
    """The acting department belongs to the jurisdiction whose profile judges the subject."""
    department = ctx.department
    if department.policy_id != ctx.policy.id:
        raise broken(ctx.policy, "authority-of-the-entry",
                     f"{department.id} acts under {department.policy_id}; the subject is under "
                     f"{ctx.policy.id}, whose data authority decides.")


def require_authority_of(department: Department, policy_id: str, policy: Policy) -> None:
    """The acting data authority is the one of `policy_id`, the jurisdiction of the subject's
    entries or department (a conflict's, an open-data application's, a project's)."""
    if department.policy_id != policy_id:
        raise broken(policy, "authority-of-the-entry",
                     f"{department.id} is the data authority of {department.policy_id}; the subject is of "
                     f"{policy_id}, whose data authority decides.")
