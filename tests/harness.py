"""The validator and the deadline engine on the runtime as the service runs them, minus Kafka consumption, on a real
broker and database: a test feeds events at chosen instants and drives the clock itself."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select

from events.codec import decode_message, encode_payload, to_headers
from events.provenance import StageKeys
from events.publisher import Publisher
from events.submission import parse_line
from events.topics import AGGREGATE_TYPES, Topics
from infra.database import make_engine
from infra.topics import ensure_topics
from processors.grants import GrantKeeper
from processors.profiles import load_all
from processors.scheduler import Scheduler
from processors.validator import Validator
from runtime import store
from runtime.loop import Runner
from runtime.message import Incoming
from tests.builders import lines, new_id
from tests.conftest import KEYS

T0 = datetime(2026, 9, 25, 2, 0, tzinfo=timezone.utc)


class Harness:
    """Each submit feeds the accepted events to the scheduler; ticks take the test's instant."""

    def __init__(self, broker, database_url, policies=None):
        self.topics = Topics(f"d{new_id('')[1:]}")
        self.kafka = {"bootstrap.servers": broker.bootstrap}
        ensure_topics(self.kafka, self.topics, 1, 1)
        self.engine = make_engine(database_url)
        self.database_url = database_url
        publisher = Publisher(self.kafka)
        self.policies = policies or load_all()  # another department directory, for a test
        self.keys = StageKeys.generated()  # the test deployment's stage keys
        self.validator = Validator(self.engine, self.policies, self.topics, publisher, keys=self.keys,
                                   department_keys=KEYS)
        self.scheduler = Scheduler(self.engine, self.policies, self.topics, publisher, keys=self.keys)
        self.grants = GrantKeeper(self.engine, self.policies, self.topics, publisher, keys=self.keys)
        self.offset = 0

    def restart(self):
        """A new scheduler over the same database: what a restarted worker would be."""
        self.scheduler = Scheduler(self.engine, self.policies, self.topics, Publisher(self.kafka),
                                   keys=self.keys)

    def projector(self, engine):
        """A projector of this harness's log (no notary runs here: no trail key)."""
        from projections.runner import Projector
        return Projector(engine, self.topics, ring=self.keys.ring, trail_keys=lambda: None)

    @staticmethod
    def feed(stage, messages: list[Incoming]) -> list:
        """Run a stage over messages on the runtime, as the service does; returns its outputs."""
        return [out for _, out in Runner(stage, "c").process(messages)]

    def submit(self, *events, at: datetime = T0) -> list:
        incoming = []
        for line in lines(*events):
            e = parse_line(line, now=at)
            incoming.append(Incoming(self.topics.inbox(e.envelope.aggregate_type), 0, self.offset, at,
                                     e.envelope.aggregate_id.encode(), encode_payload(e.payload),
                                     to_headers(e.envelope)))
            self.offset += 1
        outputs = self.feed(self.validator, incoming)
        accepted = [Incoming(o.topic, 0, i, at, o.key, o.value, o.headers) for i, o in
                    enumerate(outputs, start=self.offset * 10)
                    if o.topic in {self.topics.events(a) for a in AGGREGATE_TYPES}]
        self.feed(self.scheduler, accepted)
        self.feed(self.grants, accepted)
        return outputs

    def supervise(self) -> list:
        """Feed the usage violations the grant keeper emitted to the deadline engine, as the
        service's topics would; returns the deadline engine's outputs."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(store.outbox).where(
                store.outbox.c.topic == self.topics.events("usage-supervision"))
                .order_by(store.outbox.c.seq)).all()
        incoming = [Incoming(r.topic, 0, i, T0, b"", r.value, store.headers_from_text(r.headers))
                    for i, r in enumerate(rows)]
        return self.feed(self.scheduler, incoming)

    def emitted(self, aggregate: str) -> list:
        """Events the processors emitted for an aggregate type, in order."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(store.outbox).where(
                store.outbox.c.topic == self.topics.events(aggregate)).order_by(store.outbox.c.seq)).all()
        return [decode_message(store.headers_from_text(r.headers), r.value) for r in rows]

    def project(self, url: str):
        """Build the projections from what is on the topics now, as the projector would."""
        from projections.runner import catch_up
        engine = make_engine(url)
        catch_up(self.projector(engine), self.kafka, "c", timeout=60)
        return engine

    def deadline_events(self) -> list:
        return self.emitted("deadline")

    def types(self) -> list[str]:
        return [e.envelope.event_type for e in self.deadline_events()]




def verdicts(outputs) -> list[str]:
    """What the validator answered to each event: "accepted", or the rule it broke."""
    return [getattr(decode_message(o.headers, o.value).payload, "rule", "accepted") for o in outputs]
