"""The platform operator's recorded decisions about messages govshare did not write: a forged
record on an output topic, or a checkpoint on the trail topic that no pinned key signed, is
reported once (`govshare health`, `govshare verify`) and then dismissed with a reason by the
platform administrator's signed event, which is itself on the trail. What is dismissed is
named by where it lies and the hash of its bytes, so a dismissal covers that message alone.
"""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "dismissal"


def dismissal_id(topic: str, partition: int, offset: int) -> str:
    """The aggregate id of a dismissal: the message's place, so that it is dismissed once."""
    return f"{topic}:{partition}:{offset}"


@event_type("MessageDismissed", schema="govshare.operations.MessageDismissed", aggregate=AGGREGATE,
            senders=(Role.PLATFORM_ADMIN,))
@dataclass(frozen=True, kw_only=True, slots=True)
class MessageDismissed:
    """The platform administrator looked at a message a stage set aside, or one on the trail
    topic that no pinned key signed, and dismissed it for the reason given."""
    topic: str
    partition: int
    offset: int
    sha256: str  # hex of the message's value bytes
    stage: str  # the stage that parked it, or "" for a message of the trail topic
    reason: str
