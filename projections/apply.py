"""Which read model applies an event: each read model module declares one handler per event class
(singledispatch on the payload, the one dispatch style of the rules and the projections), and
every event is handed to each, in this order, for the live projector and for replays alike."""
from __future__ import annotations

from sqlalchemy import Connection

from events.codec import Event
from projections import catalog, deadlines, directory, incidents, objections, rejections, scorecards, sharing

# The directory first, the scorecards last: a fact counts in its department's jurisdiction's
# periods, and a settled deadline's party and kind are read from its row.
READ_MODELS = (directory.apply, rejections.apply, catalog.apply, deadlines.apply, objections.apply, sharing.apply,
               incidents.apply, scorecards.apply)


def apply_event(event: Event, tx: Connection) -> None:
    for apply in READ_MODELS:
        apply(event.payload, event.envelope, tx)


def handled() -> set[type]:
    """The event classes some read model keeps."""
    return {cls for apply in READ_MODELS for cls in apply.registry if cls is not object}
