"""Which read model applies an event: one dispatch for the live projector and for replays."""
from __future__ import annotations

from sqlalchemy import Connection

from events import catalog as catalog_events
from events import deadline as deadline_events
from events import objection as objection_events
from events import sharing as sharing_events
from events.codec import Event
from events.rejection import EventRejected
from projections import catalog, deadlines, objections, rejections, scorecards, sharing

SHARING_AGGREGATES = (sharing_events.REQUEST, sharing_events.GRANT, sharing_events.ACCESS,
                      sharing_events.SUPERVISION)


def apply_event(event: Event, tx: Connection) -> None:
    if isinstance(event.payload, EventRejected):
        rejections.apply_rejection(event.payload, event.envelope, tx)
    elif event.envelope.aggregate_type == catalog_events.AGGREGATE:
        catalog.apply(event.payload, event.envelope, tx)
    elif event.envelope.aggregate_type == deadline_events.AGGREGATE:
        deadlines.apply(event.payload, event.envelope, tx)
    elif event.envelope.aggregate_type == objection_events.AGGREGATE:
        objections.apply(event.payload, event.envelope, tx)
    elif event.envelope.aggregate_type in SHARING_AGGREGATES:
        sharing.apply(event.payload, event.envelope, tx)
    # After the views above: a settled deadline's party and kind are read from its row.
    scorecards.apply(event.payload, event.envelope, tx)
