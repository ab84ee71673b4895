"""The notary: sequences every output message into the audit trail and signs checkpoints.

It reads every topic the validator and the processors write (accepted events, rejections,
dead letters), gives each new record the next trail position, extends the hash chain and the
Merkle tree, and publishes a signed `TrailCheckpointed` on the single-partition trail topic.
The log thereby anchors the trail's order and content: a projection rebuilt from it holds the
same trail, and a database that disagrees with the signed checkpoints has been tampered with.

A trail has one order, so a deployment runs exactly one notary (a single writer, as a
transparency log's sequencer is). Its head, consumed positions and the checkpoint to publish
commit in one transaction; records seen before (a redelivery, a rehydrated log) are skipped
by id.
"""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, Engine, insert, select, update

from events import merkle
from events import trail as tr
from events.codec import encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from events.publisher import Outgoing, Publisher
from events.topics import Topics
from processors import store
from processors.clock import Clock
from processors.messages import Incoming, timestamp_of
from processors.outbox import Outbox

log = structlog.get_logger("govshare.notary")
NOTARY = Actor(department="govshare", person="notary", role=Role.SYSTEM)
CHECKPOINT_NAMESPACE = uuid.UUID("6f1b1c9e-3a51-4d7e-9a53-2f7d8b1e0c47")


@dataclass(frozen=True)
class Signer:
    """The deployment's trail key (infra/keys.py loads it)."""
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return tr.key_id(self.public_key)

    def sign(self, note: bytes) -> bytes:
        return self.private_key.sign(note)


@dataclass
class _Head:
    frontier: merkle.Frontier
    chain_head: bytes
    checkpoints: int
    new: bool


def extend_and_sign(frontier: merkle.Frontier, chain: bytes, records: list[tr.TrailRecord], *,
                    origin: str, signer: Signer, at: datetime) -> tr.TrailCheckpointed:
    """Append records to the trail's head (the frontier grows in place), extend the chain,
    and sign the new tree head."""
    previous = frontier.size
    leaves = []
    for r in records:
        leaf = r.leaf_hash
        frontier.append(leaf)
        chain = merkle.chain_hash(chain, leaf)
        leaves.append(tr.TrailLeaf(record_id=r.record_id, kind=r.kind, leaf_hash=leaf))
    root = frontier.root()
    note = tr.checkpoint_note(origin, frontier.size, root, chain, at)
    return tr.TrailCheckpointed(
        origin=origin, previous_size=previous, tree_size=frontier.size, leaves=tuple(leaves),
        root_hash=root, chain_head=chain, signed_at=at, key_id=signer.key_id,
        signature=signer.sign(note))


class Notary:
    consumer = "notary"

    def __init__(self, engine: Engine, topics: Topics, cluster_id: str, publisher: Publisher,
                 signer: Signer, clock: Clock, origin: str | None = None):
        self.engine, self.topics, self.cluster_id = engine, topics, cluster_id
        self.signer, self.clock = signer, clock
        self.origin = origin or f"govshare/{topics.prefix}"
        self.outbox = Outbox(engine, publisher)
        store.metadata.create_all(engine)

    def handle(self, messages: list[Incoming]) -> int:
        """Append the records not seen before and sign the new head; returns how many."""
        staged, fresh = [], []
        with self.engine.begin() as tx:
            consumed = store.Positions(tx, self.cluster_id, self.consumer)
            records = [tr.trail_record(m.topic, m.partition, m.offset, m.headers, m.value,
                                       dead_letter_topic=self.topics.dead_letters)
                       for m in consumed.unseen(messages)]
            fresh = self._first_seen(tx, records)
            if fresh:
                staged.append(self._checkpoint(tx, fresh))
            consumed.save()
        self.outbox.publish(staged)
        return len(fresh)

    def _first_seen(self, tx: Connection, records: list[tr.TrailRecord]) -> list[tr.TrailRecord]:
        unique = {r.record_id: r for r in records}
        fresh = store.first_seen(tx, self.consumer, list(unique))
        return [r for record_id, r in unique.items() if record_id in fresh]

    def _checkpoint(self, tx: Connection, fresh: list[tr.TrailRecord]) -> tuple[int, Outgoing]:
        head = self._head(tx)
        signed_at = self.clock.now()
        checkpoint = extend_and_sign(head.frontier, head.chain_head, fresh, origin=self.origin,
                                     signer=self.signer, at=signed_at)
        values = dict(tree_size=checkpoint.tree_size, frontier=head.frontier.to_bytes(),
                      chain_head=checkpoint.chain_head, checkpoints=head.checkpoints + 1)
        if head.new:
            tx.execute(insert(store.notary), dict(origin=self.origin, **values))
        else:
            tx.execute(update(store.notary).where(store.notary.c.origin == self.origin).values(**values))
        log.info("trail.checkpointed", tree_size=checkpoint.tree_size, appended=len(fresh))
        return self.outbox.stage(tx, None, self._message(checkpoint, head.checkpoints + 1, signed_at))

    def _head(self, tx: Connection) -> _Head:
        row = tx.execute(select(store.notary).where(store.notary.c.origin == self.origin)).first()
        if row is None:
            return _Head(merkle.Frontier(), merkle.CHAIN_START, 0, True)
        return _Head(merkle.Frontier.from_bytes(row.tree_size, row.frontier), row.chain_head,
                     row.checkpoints, False)

    def _message(self, checkpoint: tr.TrailCheckpointed, number: int, at: datetime) -> Outgoing:
        envelope = Envelope(
            event_id=uuid.uuid5(CHECKPOINT_NAMESPACE, f"{self.origin}:{checkpoint.tree_size}"),
            event_type="TrailCheckpointed", schema_version=1, aggregate_type=tr.AGGREGATE,
            aggregate_id=self.origin, sequence=number, occurred_at=at, recorded_at=at,
            actor=NOTARY, policy_id="common",
            correlation_id=uuid.uuid5(CHECKPOINT_NAMESPACE, self.origin), source="govshare:notary")
        return Outgoing(self.topics.trail, self.origin.encode(), encode_payload(checkpoint),
                        to_headers(envelope))

    def run(self, kafka: dict[str, str], stop: threading.Event, batch: int = 2000,
            interval: float = 0.5) -> None:
        """Consume every output topic; sign a checkpoint per `batch` records or `interval`
        seconds, whichever comes first, so the trail trails the log by about `interval`."""
        self.outbox.relay_unpublished()
        consumer = Consumer({**kafka, "group.id": f"{self.topics.prefix}-notary",
                             "enable.auto.commit": False, "auto.offset.reset": "earliest",
                             "isolation.level": "read_committed"})
        try:
            consumer.assign(self._assignment(consumer))
            pending: list[Incoming] = []
            started = 0.0
            while not stop.is_set():
                for m in consumer.consume(batch - len(pending), timeout=0.1):
                    if m.error() is None:
                        pending.append(_incoming(m))
                    else:
                        log.warning("notary.consume_error", error=str(m.error()))
                if pending and not started:
                    started = time.monotonic()
                if pending and (len(pending) >= batch or time.monotonic() - started >= interval):
                    self._handle_until_done(pending, stop)
                    pending, started = [], 0.0
        finally:
            consumer.close()

    def _handle_until_done(self, pending: list[Incoming], stop: threading.Event) -> None:
        delay = 0.5
        while not stop.is_set():
            try:
                self.handle(pending)
                return
            except Exception:
                # The transaction rolled back whole (or only the publish failed, and the outbox
                # relays it): trying again is safe, skipping would leave a hole in the trail.
                log.exception("notary.batch_failed", retry_in=delay)
                stop.wait(delay)
                self.outbox.relay_unpublished()
                delay = min(delay * 2, 30.0)

    def _assignment(self, consumer: Consumer) -> list[TopicPartition]:
        known = consumer.list_topics(timeout=10).topics
        with self.engine.connect() as conn:
            stored = {(r.topic, r.partition): r.next_offset for r in conn.execute(
                select(store.positions).where(store.positions.c.consumer == self.consumer,
                                              store.positions.c.cluster_id == self.cluster_id))}
        return [TopicPartition(t, p, stored.get((t, p), 0))
                for t in self.topics.outputs() for p in sorted(known[t].partitions)]


def _incoming(m) -> Incoming:
    _, ts = m.timestamp()
    return Incoming(m.topic(), m.partition(), m.offset(), timestamp_of(ts / 1000), m.key(),
                    m.value(), list(m.headers() or []))
