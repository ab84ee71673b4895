"""What every processor of accepted events does around its own decisions: skip what it consumed
before, decode, apply each event once, then publish what it emitted after the commit."""
from __future__ import annotations

from sqlalchemy import Connection, Engine, insert
from sqlalchemy.exc import IntegrityError

from events.codec import Event, decode_message
from events.errors import DecodeError
from events.publisher import Outgoing, Publisher
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
            for m in consumed.unseen(messages):
                event = self._first_time(tx, m)
                if event is not None:
                    emitted += self.apply(tx, event)
            consumed.save()
        self.outbox.publish(emitted)
        return len(emitted)

    def _first_time(self, tx: Connection, m: Incoming) -> Event | None:
        try:
            event = decode_message(m.headers, m.value)
        except DecodeError as exc:
            # Only govshare writes these topics; the projector keeps such bytes visible.
            self.log.error("processor.undecodable", topic=m.topic, offset=m.offset, reason=str(exc))
            return None
        if not isinstance(event.payload, self.handles):
            return None  # nothing to do, so nothing to remember either: keeps the hot path lean
        try:
            with tx.begin_nested():
                tx.execute(insert(store.handled), dict(consumer=self.consumer,
                                                       event_id=str(event.envelope.event_id)))
        except IntegrityError:
            return None  # applied before: a redelivery, or a rehydrated log read again
        return event

    def apply(self, tx: Connection, event: Event) -> Emitted:
        raise NotImplementedError
