"""An output the broker will never take is parked, not retried at every start."""
from __future__ import annotations

import uuid

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import func, select

from audit.provenance import StageKeys
from events.publisher import MESSAGE_MAX_BYTES, Outgoing, Publisher
from events.topics import Topics
from infra.database import make_engine
from infra.topics import ensure_topics
from runtime import parking, store
from runtime.outbox import Outbox
from tests.conftest import wait_for


def test_an_output_the_broker_refuses_for_good_is_parked_and_the_others_published(broker, database_url):
    # Given an outbox holding an output larger than any broker message, between two others
    topics, kafka = Topics(f"o{uuid.uuid4().hex[:10]}"), {"bootstrap.servers": broker.bootstrap}
    ensure_topics(kafka, topics, 1, 1)
    engine = make_engine(database_url)
    store.metadata.create_all(engine)
    outbox = Outbox(engine, Publisher(kafka), "validator", StageKeys.generated(["validator"]).signer("validator"))
    target = topics.dead_letters
    with engine.begin() as tx:
        outbox.stage_many(tx, [(None, Outgoing(target, b"a", b"before", [])),
                               (None, Outgoing(target, b"b", b"x" * (MESSAGE_MAX_BYTES + 1), [])),
                               (None, Outgoing(target, b"c", b"after", []))])
    # When it is relayed (as at every start)
    assert outbox.relay_unpublished() == 3
    # Then the two others are on the topic, the refused one is parked with why, and a second
    # start has nothing left to relay
    [held] = parking.listed(engine)
    assert held["stage"] == "validator" and "output not published" in held["error"]
    assert "size" in held["error"].lower() or "large" in held["error"].lower()
    assert outbox.relay_unpublished() == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(store.outbox)
                           .where(store.outbox.c.published.is_(False))) == 0
    consumer = Consumer({**kafka, "group.id": "t", "enable.auto.commit": False})
    consumer.assign([TopicPartition(target, 0, 0)])
    seen: list[bytes] = []
    wait_for(lambda: seen.extend(m.value() for m in consumer.consume(10, timeout=0.2) if m.error() is None)
             or len(seen) >= 2, 30, "the two published outputs")
    consumer.close()
    assert seen == [b"before", b"after"]
