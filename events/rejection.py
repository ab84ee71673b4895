"""The answer govshare gives a publisher whose event breaks a rule."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from events.registry import event_type

AGGREGATE = "rejection"
EVENT_TYPE = "EventRejected"


@event_type(EVENT_TYPE, schema="govshare.EventRejected", aggregate=AGGREGATE)
@dataclass(frozen=True, kw_only=True, slots=True)
class EventRejected:
    """govshare refused to apply a published event; the event is never applied."""
    rejected_event_id: uuid.UUID
    rejected_event_type: str
    rejected_aggregate_type: str
    rejected_aggregate_id: str
    rule: str
    article: str
    message: str
