"""The rules of a security incident report (events/incident.py): a department reports its own
incident once, saying what happened, the remedies it took and to which security authority it
reported (Ningbo Art. 31). What it admits (users not told) is recorded, not refused: supervision
reads it."""
from __future__ import annotations

from events import incident as ev
from events.codec import Event
from processors.profiles import Policy
from processors.rules.jurisdiction import expect_next
from processors.rules.verdicts import broken


def decide(event: Event, sequence: int | None, policy: Policy) -> None:
    """Raises RuleBroken unless the report can be recorded. `sequence`: the incident's last
    sequence, None if it was never reported."""
    p: ev.SecurityIncidentReported = event.payload
    expect_next(policy, event, sequence, creates=True,
                exists_rule="incident-already-reported", missing_rule="incident-already-reported")
    if not p.description.strip():
        raise broken(policy, "incident-description-required", "The report does not say what happened.")
    if not p.remedies.strip():
        raise broken(policy, "incident-remedies-required", "The report does not say the remedies taken.")
    if not p.reported_to.strip():
        raise broken(policy, "incident-report-required",
                     "The report does not name the security authority it was reported to.")
