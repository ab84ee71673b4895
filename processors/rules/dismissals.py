"""The rules of a dismissal (events/operations.py): the platform administrator names one message
by its place and the hash of its bytes, says why, and dismisses it once."""
from __future__ import annotations

import re

from events import operations as ev
from events.codec import Event
from processors.profiles import Policy
from processors.rules.jurisdiction import expect_next
from processors.rules.verdicts import broken

_SHA256 = re.compile(r"[0-9a-f]{64}")


def decide(event: Event, sequence: int | None, policy: Policy) -> None:
    """Raises RuleBroken unless the dismissal can be recorded. `sequence`: the dismissal's
    last sequence, None if the message was never dismissed."""
    p: ev.MessageDismissed = event.payload
    expect_next(policy, event, sequence, creates=True,
                exists_rule="message-dismissed-already", missing_rule="message-dismissed-already")
    place = ev.dismissal_id(p.topic, p.partition, p.offset)
    if event.envelope.aggregate_id != place:
        raise broken(policy, "dismissal-mismatch",
                     f"A dismissal of {p.topic} partition {p.partition} offset {p.offset} has the id {place}.")
    if not _SHA256.fullmatch(p.sha256):
        raise broken(policy, "dismissal-mismatch", "sha256 must be the 64 lower-case hex digits of the "
                     "message's SHA-256.")
    if not p.reason.strip():
        raise broken(policy, "dismissal-reason-required", "Say why the message may be set aside for good.")
