"""The tables every stage keeps beside its own state: consumed positions, the outbox and parked
events. They live in the stage's database, so a batch's state, positions and outputs commit in
one transaction.
"""
from __future__ import annotations

import json
from typing import Iterable, Iterator

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    tuple_,
)

from events.publisher import Outgoing

metadata = MetaData()

positions = Table(
    "stage_positions", metadata,
    Column("stage", String(32), primary_key=True),  # validator, deadlines, grants, notary, projector
    # Keyed by cluster: on another cluster (a rehydrated embedded broker) a stage reads from the
    # start and skips, by id, what it already applied.
    Column("cluster_id", String(128), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

outbox = Table(
    "stage_outbox", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("stage", String(32), nullable=False),
    Column("source_event_id", String(100), index=True),
    Column("topic", String(255), nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", Text, nullable=False),
    Column("published", Boolean, nullable=False, default=False, index=True),
)

parked = Table(
    # A message a stage could not apply, kept with why, where from, and its bytes, so that it
    # blocks nothing after it and can be run again once the cause is fixed (`retry-parked`).
    "parked_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("stage", String(32), nullable=False, index=True),
    Column("event_id", String(100)),  # the ce_id header, when the message had one
    Column("event_type", String(100)),
    Column("topic", String(255)),
    Column("partition", Integer),
    Column("offset", BigInteger),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", Text, nullable=False, default="[]"),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    # parked | retry (asked for by `govshare retry-parked`) | done (applied on a retry)
    Column("status", String(16), nullable=False, index=True),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def headers_to_text(headers: Iterable[tuple[str, bytes | None]]) -> str:
    return json.dumps([[k, v.decode("latin-1") if v is not None else None] for k, v in headers])


def headers_from_text(text: str) -> list[tuple[str, bytes]]:
    return [(k, v.encode("latin-1") if v is not None else None) for k, v in json.loads(text)]


def as_outgoing(row) -> Outgoing:
    return Outgoing(row.topic, row.key, row.value, headers_from_text(row.headers))


class Positions:
    """Consumed input positions inside one transaction: what was applied before a restart is
    skipped, and the new positions commit with the state they led to. The stage's positions are
    read in one query and written in two statements a batch, however many partitions it read."""

    def __init__(self, tx: Connection, cluster_id: str, stage: str):
        self.tx, self.cluster_id, self.stage = tx, cluster_id, stage
        self.consumed: dict[tuple[str, int], int] = {}
        self._stored: dict[tuple[str, int], int] | None = None

    def unseen(self, messages: Iterable) -> Iterator:
        for m in messages:
            key = (m.topic, m.partition)
            if key not in self.consumed:
                if self._stored is None:
                    self._stored = stored_positions(self.tx, self.stage, self.cluster_id)
                self.consumed[key] = self._stored.get(key, 0)
            if m.offset >= self.consumed[key]:
                self.consumed[key] = m.offset + 1
                yield m

    def save(self) -> None:
        if not self.consumed:
            return
        mine = (positions.c.stage == self.stage) & (positions.c.cluster_id == self.cluster_id)
        self.tx.execute(delete(positions).where(
            mine, tuple_(positions.c.topic, positions.c.partition).in_(list(self.consumed))))
        self.tx.execute(insert(positions), [
            dict(stage=self.stage, cluster_id=self.cluster_id, topic=topic, partition=partition,
                 next_offset=next_offset) for (topic, partition), next_offset in self.consumed.items()])


def stored_positions(conn: Connection, stage: str, cluster_id: str) -> dict[tuple[str, int], int]:
    return {(r.topic, r.partition): r.next_offset for r in conn.execute(
        select(positions).where(positions.c.stage == stage, positions.c.cluster_id == cluster_id))}
