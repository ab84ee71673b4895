"""The answer govshare gives a publisher whose event breaks a rule."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from events.bounds import printable
from events.envelope import Actor
from events.kinds import event_type

AGGREGATE = "rejection"
EVENT_TYPE = "EventRejected"


@event_type(EVENT_TYPE, schema="govshare.EventRejected", aggregate=AGGREGATE)
@dataclass(frozen=True, kw_only=True, slots=True)
class EventRejected:
    """govshare refused to apply a published event; the event is never applied.

    Its envelope's actor is the validator, which refused; `attempted_by` is who tried, so that
    what a department or a person tried and was refused can be listed by them."""
    rejected_event_id: uuid.UUID
    rejected_event_type: str
    rejected_aggregate_type: str
    rejected_aggregate_id: str
    rule: str
    article: str
    message: str
    # None only in rejections recorded before the field existed (schema v1).
    attempted_by: Actor | None = None
    # The refused event's signing key; None until submissions are signed (issue #15).
    attempted_key_id: str | None = None


def attempter(actor: Actor) -> Actor:
    """Who tried, as a rejection keeps them. A name out of bounds may be the very reason for
    the refusal, so it is cut to the narrowest column and its unprintable characters replaced
    (PostgreSQL text refuses NUL): the refusal must still fit the tables that record it."""
    return Actor(department=printable(actor.department), person=printable(actor.person), role=actor.role)
