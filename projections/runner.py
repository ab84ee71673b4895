"""Consumes the accepted-event, rejection, dead-letter and trail topics into the projection tables.

Each batch of messages is applied together with the consumed positions in one database
transaction, so every event is applied exactly once in effect. Positions are keyed by the
broker's cluster id: on a different cluster (a rehydrated embedded broker, a migrated one) the
projector reads from the start and skips events it already holds, by event id.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import structlog
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import Connection, Engine, delete, insert, select

from events.codec import decode_message
from events.topics import Topics
from events.trail import TrailRecord, trail_record
from projections import rejections, trail
from projections.apply import apply_event
from projections.tables import dead_letters, event_log, metadata, positions

log = structlog.get_logger("govshare.projector")

def consumer_config(kafka: dict[str, str], group: str) -> dict[str, object]:
    return {
        **kafka,
        "group.id": group,  # used only to name the client; positions live in the database
        "enable.auto.commit": False,  # the database transaction is the commit
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
    }


@dataclass(frozen=True, slots=True)
class Applied:
    applied: int = 0
    duplicates: int = 0


class Projector:
    def __init__(self, engine: Engine, topics: Topics, cluster_id: str, kafka: dict[str, str],
                 as_of: datetime | None = None):
        """With `as_of`, only what was recorded by then is applied: the projections as they
        stood at that instant (`govshare replay`)."""
        self.engine, self.topics, self.cluster_id, self.kafka = engine, topics, cluster_id, kafka
        self.as_of = as_of
        metadata.create_all(engine)

    def run(self, stop: threading.Event, batch: int = 500,
            on_batch: Callable[[Applied], None] | None = None) -> None:
        consumer = Consumer(consumer_config(self.kafka, f"{self.topics.prefix}-projector"))
        try:
            consumer.assign(self._assignment(consumer))
            while not stop.is_set():
                messages = consumer.consume(batch, timeout=0.2)
                good = [m for m in messages if m.error() is None]
                for m in messages:
                    if m.error() is not None:
                        log.warning("projector.consume_error", error=str(m.error()))
                if good:
                    result = self._apply_until_done(good, stop)
                    if on_batch and result:
                        on_batch(result)
        finally:
            consumer.close()

    def _apply_until_done(self, messages: list, stop: threading.Event) -> Applied | None:
        """Apply a batch, retrying while it fails: the projection must not skip a batch, and a
        dead thread would stop it silently. The batch's transaction rolled back whole."""
        delay = 0.5
        while not stop.is_set():
            try:
                return self.apply_batch(messages)
            except Exception:
                log.exception("projector.batch_failed", retry_in=delay)
                stop.wait(delay)
                delay = min(delay * 2, 30.0)
        return None

    def catch_up(self, timeout: float = 300.0, batch: int = 2000) -> int:
        """Apply everything up to the current end of the log, then return (a rebuild).

        Returns how many events were newly applied.
        """
        consumer = Consumer(consumer_config(self.kafka, f"{self.topics.prefix}-projector"))
        try:
            assignment = self._assignment(consumer)
            ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
                    for tp in assignment}
            pending = {k for k, end in ends.items()
                       if end > next(tp.offset for tp in assignment if (tp.topic, tp.partition) == k)}
            consumer.assign(assignment)
            applied, deadline = 0, time.monotonic() + timeout
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"projection did not catch up within {timeout}s")
                good = [m for m in consumer.consume(batch, timeout=0.2) if m.error() is None]
                if good:
                    applied += self.apply_batch(good).applied
                    for m in good:
                        if m.offset() + 1 >= ends[(m.topic(), m.partition())]:
                            pending.discard((m.topic(), m.partition()))
            return applied
        finally:
            consumer.close()

    def _assignment(self, consumer: Consumer) -> list[TopicPartition]:
        metadata_ = consumer.list_topics(timeout=10)
        with self.engine.connect() as conn:
            stored = {(r.topic, r.partition): r.next_offset for r in conn.execute(
                select(positions).where(positions.c.cluster_id == self.cluster_id))}
        return [TopicPartition(t, p, stored.get((t, p), 0))
                for t in self.topics.outputs() + [self.topics.trail] for p in sorted(metadata_.topics[t].partitions)]

    def apply_batch(self, messages: list) -> Applied:
        """One transaction per batch: event_log rows go in one statement, and which events are
        already held is asked once (the profile showed three round trips per event before)."""
        applied = 0
        with self.engine.begin() as tx:
            events: list[tuple[object, TrailRecord]] = []
            for m in messages:
                if m.topic() == self.topics.trail:
                    applied += self._apply_checkpoint(tx, m)
                    continue
                record = trail_record(m.topic(), m.partition(), m.offset(), m.headers(), m.value(),
                                      dead_letter_topic=self.topics.dead_letters)
                if record.event is None:
                    applied += self._apply_dead_letter(tx, m, record)
                else:
                    events.append((m, record))
            fresh = self._not_yet_held(tx, events)
            if fresh:
                tx.execute(insert(event_log), [log_row(m, r) for m, r in fresh])
            for _, r in fresh:
                apply_event(r.event, tx)
            applied += len(fresh)
            trail.apply_ready(tx)
            self._store_positions(tx, messages)
        return Applied(applied, len(messages) - applied)

    def _not_yet_held(self, tx: Connection, events: list) -> list:
        wanted: dict[str, tuple] = {}
        for m, r in events:
            recorded = r.event.envelope.recorded_at
            if self.as_of is not None and recorded and recorded > self.as_of:
                continue
            wanted.setdefault(r.record_id, (m, r))
        if not wanted:
            return []
        held = set(tx.scalars(select(event_log.c.event_id).where(event_log.c.event_id.in_(list(wanted)))))
        return [item for event_id, item in wanted.items() if event_id not in held]

    def _apply_dead_letter(self, tx: Connection, m, record: TrailRecord) -> bool:
        if m.topic() != self.topics.dead_letters:
            # Only govshare writes these topics, so this is a bug or a foreign writer: keep the
            # bytes where an operator sees them rather than stop the projection.
            log.error("projector.undecodable", topic=m.topic(), offset=m.offset(),
                      reason=record.dead_letter.reason)
        _, ts = m.timestamp()
        at = datetime.fromtimestamp(ts / 1000, tz=timezone.utc)
        if self.as_of is not None and at > self.as_of:
            return False
        if tx.execute(select(dead_letters.c.id).where(dead_letters.c.id == record.record_id)).first():
            return False
        rejections.apply_dead_letter(record.dead_letter, record.record, at, tx)
        return True

    def _apply_checkpoint(self, tx: Connection, m) -> bool:
        event = decode_message(m.headers(), m.value())
        if self.as_of is not None and event.payload.signed_at > self.as_of:
            return False
        return trail.hold_checkpoint(event.payload, m.value(), event.envelope, tx)

    def _store_positions(self, tx: Connection, messages: list) -> None:
        latest: dict[tuple[str, int], int] = {}
        for m in messages:
            latest[(m.topic(), m.partition())] = m.offset() + 1
        for (topic, partition), next_offset in latest.items():
            key = dict(cluster_id=self.cluster_id, topic=topic, partition=partition)
            tx.execute(delete(positions).filter_by(**key))
            tx.execute(insert(positions), dict(**key, next_offset=next_offset))


def log_row(m, record: TrailRecord) -> dict:
    """The event_log row of an event read from the log."""
    env = record.event.envelope
    return dict(
        event_id=str(env.event_id), topic=m.topic(), partition=m.partition(), offset=m.offset(),
        event_type=env.event_type, aggregate_type=env.aggregate_type,
        aggregate_id=env.aggregate_id, sequence=env.sequence, occurred_at=env.occurred_at,
        recorded_at=env.recorded_at, actor_department=env.actor.department,
        actor_person=env.actor.person, actor_role=env.actor.role.value,
        policy_id=env.policy_id, correlation_id=str(env.correlation_id),
        causation_id=str(env.causation_id) if env.causation_id else None, source=env.source,
        record=record.record)
