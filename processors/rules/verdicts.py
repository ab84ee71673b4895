"""What a rule check answers: accept the event, or reject it naming the rule and its article."""
from __future__ import annotations

from dataclasses import dataclass

from processors.profiles import Policy


@dataclass(frozen=True, slots=True)
class Accepted:
    pass


@dataclass(frozen=True, slots=True)
class Rejected:
    rule: str
    article: str
    message: str


Verdict = Accepted | Rejected
ACCEPTED = Accepted()


class RuleBroken(Exception):
    """Raised inside a decision to stop at the first broken rule; never escapes decide()."""

    def __init__(self, rejected: Rejected):
        super().__init__(rejected.message)
        self.rejected = rejected


def broken(policy: Policy, rule_id: str, detail: str) -> RuleBroken:
    rule = policy.rule(rule_id)
    return RuleBroken(Rejected(rule_id, rule.article, f"{rule.text} {detail}".strip()))
