"""Which policy and department an event acts under: the first check of every workflow."""
from __future__ import annotations

from events.codec import Event
from processors.profiles import Department, Policies, Policy
from processors.verdicts import broken


def resolve(event: Event, policies: Policies) -> tuple[Policy, Department]:
    """Raises RuleBroken for an unknown policy or department, or a department acting under
    another jurisdiction's policy."""
    env = event.envelope
    policy = policies.policy(env.policy_id)
    if policy is None:
        raise broken(policies.baseline, "policy-unknown", f"Unknown policy {env.policy_id!r}.")
    department = policies.department(env.actor.department)
    if department is None:
        raise broken(policy, "department-unknown", f"Unknown department {env.actor.department!r}.")
    if department.policy_id != policy.id:
        raise broken(policy, "jurisdiction-mismatch",
                     f"{department.id} belongs to {department.policy_id}, not {policy.id}.")
    return policy, department


def expect_sequence(policy: Policy, aggregate_id: str, expected: int, got: int) -> None:
    if got != expected:
        raise broken(policy, "sequence-out-of-order",
                     f"{aggregate_id} expects sequence {expected}, got {got}.")
