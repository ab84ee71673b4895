"""What every processor of accepted events shares as a stage of the runtime: one decode per
message, each event applied once (a redelivery, or a rehydrated log read again, changes
nothing), and one handler per event class, whose classes are what the stage handles (the
System reads them to subscribe it: runtime/system.py)."""
from __future__ import annotations

from sqlalchemy import Connection, Engine

from events.codec import Event, decode_message
from events.registry import all_kinds
from events.envelope import Actor, Role
from audit.provenance import StageKeys
from events.publisher import Outgoing, Publisher
from events.topics import Topics
from processors import store
from runtime.message import Incoming
from runtime.outbox import Outbox, Staged

# What a handler decided to emit, each with the input it answers: staged together at the end of
# the batch, under one signature (runtime/outbox.py).
Emitted = list[tuple[str | None, Outgoing]]


class EventConsumer:
    """Subclasses name themselves and declare one handler per payload class:

        @singledispatchmethod
        def on(self, payload, tx, event) -> Emitted:
            return []  # what the stage does not handle is read past

        @on.register
        def _(self, p: SomeEvent, tx: Connection, event: Event) -> Emitted: ...

    What they read is checked against the stage keys' ring before it is decoded
    (runtime.loop.decoded); what they emit (`self.outbox.event`, returned with the input it
    answers) is staged for the whole batch at once, signed with their own key."""

    name: str
    person: str  # who the stage acts as in the events it emits

    def __init__(self, engine: Engine, publisher: Publisher, keys: StageKeys, topics: Topics):
        self.engine, self.topics = engine, topics
        self.ring = keys.ring
        self.outbox = Outbox(engine, publisher, self.name, keys.signer(self.name), topics=topics,
                             actor=Actor(department="govshare", person=self.person, role=Role.SYSTEM))

    def start(self) -> None:
        pass

    @classmethod
    def handles(cls) -> tuple[type, ...]:
        """The event classes a handler is registered for, or derives from (events.kinds.Ending):
        what the stage is subscribed to."""
        dispatch = next(vars(k)["on"] for k in cls.__mro__ if "on" in vars(k))
        registered = [c for c in dispatch.dispatcher.registry if c is not object]
        return tuple(k.cls for k in all_kinds() if any(issubclass(k.cls, c) for c in registered))

    def decode(self, m: Incoming) -> Event:
        return decode_message(m.headers, m.value)

    def apply(self, tx: Connection, batch: list[tuple[Incoming, Event]]) -> Staged:
        events: dict[str, Event] = {}
        for _, event in batch:
            events.setdefault(str(event.envelope.event_id), event)
        fresh = store.first_seen(tx, self.name, list(events))
        emitted: Emitted = []
        for event_id, event in events.items():
            if event_id in fresh:
                emitted += self.on(event.payload, tx, event)
        return self.outbox.stage_many(tx, emitted)
