"""What every processor of accepted events does around its own decisions: skip what it consumed
before, decode, apply each event once, then publish what it emitted after the commit."""
from __future__ import annotations

from sqlalchemy import Connection, Engine

from events.codec import TYPE_PREFIX, Event, decode_message
from events.errors import DecodeError
from events.publisher import Outgoing, Publisher
from events.registry import type_names
from processors import store
from processors.messages import Incoming
from processors.outbox import Outbox

Emitted = list[tuple[int, Outgoing]]


class EventConsumer:
    """Subclasses name themselves, list the payload types they act on, and implement
    `apply(tx, event) -> Emitted`."""

    consumer: str
    handles: tuple[type, ...]

    def __init__(self, engine: Engine, cluster_id: str, publisher: Publisher, log):
        self.engine, self.cluster_id, self.log = engine, cluster_id, log
        self.outbox = Outbox(engine, publisher)
        store.metadata.create_all(engine)

    def handle(self, messages: list[Incoming]) -> int:
        emitted: Emitted = []
        with self.engine.begin() as tx:
            consumed = store.Positions(tx, self.cluster_id, self.consumer)
            for event in self._first_time(tx, list(consumed.unseen(messages))):
                emitted += self.apply(tx, event)
            consumed.save()
        self.outbox.publish(emitted)
        return len(emitted)

    def _first_time(self, tx: Connection, messages: list[Incoming]) -> list[Event]:
        """The batch's events this processor acts on and has not applied before (a redelivery,
        or a rehydrated log read again)."""
        wanted = {TYPE_PREFIX + name for name in type_names(self.handles)}
        events: dict[str, Event] = {}
        for m in messages:
            # The type header decides before the payload is decoded: most events are not ours.
            if next((v for k, v in m.headers if k == "ce_type"), b"").decode("utf-8", "replace") not in wanted:
                continue
            try:
                event = decode_message(m.headers, m.value)
            except DecodeError as exc:
                # Only govshare writes these topics; the projector keeps such bytes visible.
                self.log.error("processor.undecodable", topic=m.topic, offset=m.offset, reason=str(exc))
                continue
            events.setdefault(str(event.envelope.event_id), event)
        fresh = store.first_seen(tx, self.consumer, list(events))
        return [e for event_id, e in events.items() if event_id in fresh]

    def apply(self, tx: Connection, event: Event) -> Emitted:
        raise NotImplementedError
