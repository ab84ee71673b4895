"""What every processor of accepted events shares as a stage of the runtime: the types it acts
on (filtered by header before decoding), one decode per message, and each event applied once
(a redelivery, or a rehydrated log read again, changes nothing)."""
from __future__ import annotations

from sqlalchemy import Connection, Engine

from events.codec import Event, decode_message
from events.provenance import StageKeys
from events.publisher import Publisher
from events.registry import ce_types_of
from processors import store
from runtime import store as runtime_store
from runtime.message import Incoming
from runtime.outbox import Outbox, Staged

Emitted = Staged


class EventConsumer:
    """Subclasses name themselves, list the payload types they act on, and implement
    `apply_event(tx, event) -> Emitted`. What they read is checked against the stage keys'
    ring before it is decoded (runtime.loop.decoded); what they emit is signed with their own."""

    name: str
    handles: tuple[type, ...]

    def __init__(self, engine: Engine, publisher: Publisher, keys: StageKeys):
        self.engine = engine
        self.ring = keys.ring
        self.outbox = Outbox(engine, publisher, self.name, keys.signer(self.name))
        self.wanted = frozenset(t.encode() for t in ce_types_of(self.handles))
        store.metadata.create_all(engine)
        runtime_store.metadata.create_all(engine)

    def decode(self, m: Incoming) -> Event:
        return decode_message(m.headers, m.value)

    def apply(self, tx: Connection, batch: list[tuple[Incoming, Event]]) -> Emitted:
        events: dict[str, Event] = {}
        for _, event in batch:
            events.setdefault(str(event.envelope.event_id), event)
        fresh = store.first_seen(tx, self.name, list(events))
        emitted: Emitted = []
        for event_id, event in events.items():
            if event_id in fresh:
                emitted += self.apply_event(tx, event)
        return emitted

    def apply_event(self, tx: Connection, event: Event) -> Emitted:
        raise NotImplementedError
