"""The projector: a stage of the runtime that applies the accepted-event, rejection, dead-letter
and trail topics to the projection tables.

Each batch is applied with the consumed positions in one database transaction (runtime/loop.py),
so every event is applied exactly once in effect. Positions are keyed by the broker's cluster id:
on a different cluster (a rehydrated embedded broker, a migrated one) the projector reads from
the start and skips events it already holds, by event id.
"""
from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable, Iterable

import structlog
from sqlalchemy import Connection, Engine, insert, select

from events.codec import Event, decode_message
from events.records import instant
from audit.provenance import RELOAD_SECONDS, NotGovshares, StageRing
from events.topics import Topics
from audit.trail import Keys, Records, TrailCheckpointed, TrailRecord, checkpoint_of, note_of, trail_record
from projections import directory, rejections, sealed, trail
from projections.directory import Listed
from projections.apply import apply_event
from projections.batching import Batching
from projections.tables import dead_letters, event_log
from runtime import loop
from runtime import store as runtime_store
from runtime.message import Incoming, from_kafka
from runtime.outbox import Staged

log = structlog.get_logger("govshare.projector")


class Projector:
    name = "projector"
    outbox = None  # a projection only applies; it never publishes

    def __init__(self, engine: Engine, topics: Topics, as_of: datetime | None = None,
                 extra: tuple[Callable[[Event, Connection], None], ...] = (), *,
                 ring: StageRing, trail_keys: Callable[[], Keys | None], first: Iterable[Listed] = (),
                 records: Records | None = None):
        """With `as_of`, only what was recorded by then is applied: the projections as they
        stood at that instant (`govshare replay`). `extra`: a deployment's own read models,
        each called with every event after govshare's, in the same transaction. `ring`: the
        stage keys every record must be signed with; `trail_keys` reads the trail's key ring,
        which every checkpoint must be signed with (read again when one names a key not in it:
        the notary may have started with a new key). `first`: the directory govshare started
        with, which the directory's read model starts from (projections/directory.py). `records`: where
        the notary runs in this process, what it seals of the records decoded here."""
        self.engine, self.topics, self.as_of, self.extra = engine, topics, as_of, extra
        self.records = records
        self.ring, self.trail_keys, self.first = ring, trail_keys, tuple(first)
        self._trail: Keys | None = None
        self._trail_read = 0.0
        self.applied = 0

    def start(self) -> None:
        with self.engine.begin() as tx:
            directory.seed(tx, self.first)

    def recorded_by_as_of(self, m: Incoming) -> bool:
        """Whether a replay reads a record at all: one its header says was recorded after
        `as_of` is passed over before its signature is checked and it is decoded, which is most
        of a replay's cost at an early instant. The header is under the stage's signature, so a
        changed one can hide a record from a replay only, and `govshare verify` names it."""
        if self.as_of is None or m.topic == self.topics.trail:
            return True  # a checkpoint is held by its signed instant (_apply_checkpoint)
        if m.topic == self.topics.dead_letters:
            return m.timestamp <= self.as_of
        recorded = m.header("ce_govrecordedat")
        try:
            return recorded is None or instant(recorded.decode("ascii", "replace")) <= self.as_of
        except ValueError:
            return True  # the decode says what is wrong with it

    def decode(self, m: Incoming) -> Event | TrailRecord:
        if m.topic == self.topics.trail:
            event = decode_message(m.headers, m.value)
            self._check_signed_head(event.payload)
            return event
        record = trail_record(m.topic, m.partition, m.offset, m.headers, m.value,
                              dead_letter_topic=self.topics.dead_letters)
        if self.records is not None and record.event is not None and \
                m.header("ce_govschemaversion") == str(record.event.envelope.schema_version).encode():
            # The notary's record to the byte: it encodes the envelope the headers give (the
            # version its header states), as this one does after decoding the payload. A dead
            # letter, or a version the payload's fingerprint corrected, it makes itself.
            self.records.keep(m, record)
        return record

    def _check_signed_head(self, cp: Any) -> None:
        """A checkpoint is held only if the trail key signed its head: the stage signature says
        the notary published it, this one is what `verify` and a security team check."""
        if not isinstance(cp, TrailCheckpointed):
            raise NotGovshares(f"not govshare's: a {type(cp).__name__} on the trail topic")
        problem = self._trail_problem(cp)
        if problem and time.monotonic() - self._trail_read > RELOAD_SECONDS:
            self._trail = None  # a key rotated in since: read the ring again, once
            problem = self._trail_problem(cp)
        if problem:
            raise NotGovshares(f"not govshare's: checkpoint of {cp.tree_size} records {problem}")

    def _trail_problem(self, cp: TrailCheckpointed) -> str | None:
        if self._trail is None:
            self._trail, self._trail_read = self.trail_keys(), time.monotonic()
        if self._trail is None:
            return "arrived, and this deployment has no trail key to check it with"
        return self._trail.problem(note_of(cp), checkpoint_of(cp).signatures)

    def apply(self, tx: Connection, batch: list[tuple[Incoming, Any]]) -> Staged:
        """Inserts are gathered per table and written with one statement each (Batching), and
        which events are already held is asked once per batch."""
        w = Batching(tx)
        events: list[tuple[Incoming, TrailRecord]] = []
        for m, decoded in batch:
            if m.topic == self.topics.trail:
                self.applied += self._apply_checkpoint(w, m, decoded)
            elif decoded.event is None:
                self.applied += self._apply_dead_letter(w, m, decoded)
            else:
                events.append((m, decoded))
        fresh = self._not_yet_held(w, events)
        for m, r in fresh:
            w.execute(insert(event_log), log_row(m, r))
        for _, r in fresh:
            apply_event(r.event, w)
            for project in self.extra:
                project(r.event, w)
        self.applied += len(fresh)
        trail.apply_ready(w)
        w.flush()
        return []

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

    def _apply_dead_letter(self, tx: Connection, m: Incoming, record: TrailRecord) -> bool:
        if m.topic != self.topics.dead_letters:
            # A stage signed it (a foreign writer's is parked before this), so this is a bug:
            # keep the bytes where an operator sees them rather than stop the projection.
            log.error("projector.undecodable", topic=m.topic, offset=m.offset,
                      reason=record.dead_letter.reason)
        at = m.timestamp
        if self.as_of is not None and at > self.as_of:
            return False
        if tx.execute(select(dead_letters.c.id).where(dead_letters.c.id == record.record_id)).first():
            return False
        rejections.apply_dead_letter(record.dead_letter, record.record, at, tx)
        return True

    def _apply_checkpoint(self, tx: Connection, m: Incoming, event: Event) -> bool:
        if self.as_of is not None and event.payload.signed_at > self.as_of:
            return False
        return trail.hold_checkpoint(event.payload, m.value, event.envelope, tx)


def catch_up(projector: Projector, inputs: list[str], kafka: dict[str, str], cluster_id: str,
             timeout: float = 300.0, batch: int = 2000, progress: Callable[[int], None] | None = None) -> int:
    """Apply everything up to the current end of `inputs` (the topics the projector reads),
    then return (a rebuild, a replay).

    Returns how many records were newly applied; `progress` is told the count after each batch."""
    projector.start()
    ends = _ends(kafka, inputs)  # asked before assigning: an assigned consumer answers each in ~0.5 s
    runner = loop.Runner(projector, cluster_id, batch=batch, admits=projector.recorded_by_as_of)
    consumer = loop.assigned(kafka, f"{projector.topics.prefix}-rebuild", inputs, [runner], cluster_id)
    try:
        with projector.engine.connect() as conn:
            stored = runtime_store.stored_positions(conn, projector.name, cluster_id)
        pending = {k for k, end in ends.items() if end > stored.get(k, 0)}
        before, deadline = projector.applied, time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"projection did not catch up within {timeout}s")
            good = [m for m in consumer.consume(batch, timeout=0.2) if m.error() is None]
            if good:
                runner.process([from_kafka(m) for m in good])
                if progress is not None:
                    progress(projector.applied - before)
                for m in good:
                    if m.offset() + 1 >= ends[(m.topic(), m.partition())]:
                        pending.discard((m.topic(), m.partition()))
        return projector.applied - before
    finally:
        consumer.close()


def log_row(m: Incoming, record: TrailRecord) -> dict:
    """The event_log row of an event read from the log."""
    return dict(sealed.event_columns(record.event.envelope), topic=m.topic, partition=m.partition,
                offset=m.offset, record=record.record)


def _ends(kafka: dict[str, str], topics: list[str]) -> dict[tuple[str, int], int]:
    """The current end (high watermark) of every partition of `topics`."""
    from confluent_kafka import Consumer, TopicPartition
    probe = Consumer(loop.consumer_config(kafka, f"govshare-ends-{time.monotonic_ns()}"))
    try:
        known = probe.list_topics(timeout=10).topics
        return {(t, p): probe.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                for t in topics for p in sorted(known[t].partitions)}
    finally:
        probe.close()
