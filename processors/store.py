"""The validator's own tables: aggregate state, data item sources, outbox and consumed positions.

State, the decision's output (outbox) and the consumed inbox position are written in one
transaction, so a restarted worker neither forgets nor repeats a decision; the outbox is also
the archive from which a fresh embedded broker is rehydrated.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, Iterator

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
)

from events.publisher import Outgoing

metadata = MetaData()

aggregates = Table(
    "proc_aggregates", metadata,
    Column("aggregate_type", String(64), primary_key=True),
    Column("aggregate_id", String(200), primary_key=True),
    Column("state", Text, nullable=False),
)

item_sources = Table(
    "proc_item_sources", metadata,
    # The primary key is the one-data-one-source guarantee across partitions and workers.
    Column("jurisdiction", String(64), primary_key=True),
    Column("code", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False, index=True),
)

outbox = Table(
    "proc_outbox", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("source_event_id", String(64), index=True),
    Column("topic", String(255), nullable=False),
    Column("key", LargeBinary),
    Column("value", LargeBinary),
    Column("headers", Text, nullable=False),
    Column("published", Boolean, nullable=False, default=False, index=True),
)

positions = Table(
    "proc_positions", metadata,
    Column("consumer", String(32), primary_key=True),  # validator, deadlines, grants
    Column("cluster_id", String(128), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", Integer, nullable=False),
)


deadlines = Table(
    "sched_deadlines", metadata,
    Column("deadline_id", String(64), primary_key=True),
    Column("subject_id", String(200), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("sequence", Integer, nullable=False),  # events emitted so far: a compare-and-set guard
    # Epoch microseconds of the next warning or breach: the index finds the next due ones
    # without scanning every pending deadline.
    Column("next_fire_at", BigInteger, index=True),
    Column("state", Text, nullable=False),
)

handled = Table(
    "proc_handled", metadata,
    # Accepted events a processor already applied, so a re-read log changes nothing.
    Column("consumer", String(32), primary_key=True),
    Column("event_id", String(64), primary_key=True),
)


def micros(at: datetime) -> int:
    """An instant as epoch microseconds: how processor tables index what falls due."""
    return int(at.timestamp() * 1_000_000)


class Positions:
    """Consumed input positions inside one transaction: what was decided before a restart is
    skipped, and the new positions commit with the state they led to."""

    def __init__(self, tx: Connection, cluster_id: str, consumer: str):
        self.tx, self.cluster_id, self.consumer = tx, cluster_id, consumer
        self.consumed: dict[tuple[str, int], int] = {}

    def unseen(self, messages: Iterable) -> Iterator:
        for m in messages:
            key = (m.topic, m.partition)
            if key not in self.consumed:
                self.consumed[key] = self._stored(*key)
            if m.offset >= self.consumed[key]:
                self.consumed[key] = m.offset + 1
                yield m

    def _stored(self, topic: str, partition: int) -> int:
        row = self.tx.execute(select(positions.c.next_offset).where(
            positions.c.consumer == self.consumer,
            positions.c.cluster_id == self.cluster_id, positions.c.topic == topic,
            positions.c.partition == partition)).first()
        return row.next_offset if row else 0

    def save(self) -> None:
        for (topic, partition), next_offset in self.consumed.items():
            key = dict(consumer=self.consumer, cluster_id=self.cluster_id, topic=topic,
                       partition=partition)
            self.tx.execute(delete(positions).filter_by(**key))
            self.tx.execute(insert(positions), dict(**key, next_offset=next_offset))


def first_seen(tx: Connection, consumer: str, ids: list[str]) -> set[str]:
    """Which of these ids `consumer` has not handled before; they are remembered as handled
    now, in one statement (a redelivery, or a rehydrated log read again, changes nothing)."""
    if not ids:
        return set()
    seen = set(tx.scalars(select(handled.c.event_id).where(
        handled.c.consumer == consumer, handled.c.event_id.in_(ids))))
    fresh = [i for i in dict.fromkeys(ids) if i not in seen]
    if fresh:
        tx.execute(insert(handled), [dict(consumer=consumer, event_id=i) for i in fresh])
    return set(fresh)


def headers_to_text(headers: list[tuple[str, bytes]]) -> str:
    return json.dumps([[k, v.decode("latin-1") if v is not None else None] for k, v in headers])


def headers_from_text(text: str) -> list[tuple[str, bytes]]:
    return [(k, v.encode("latin-1") if v is not None else None) for k, v in json.loads(text)]


def as_outgoing(row) -> Outgoing:
    return Outgoing(row.topic, row.key, row.value, headers_from_text(row.headers))


grants = Table(
    "proc_grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("entry_id", String(200), nullable=False),
    Column("grantee", String(100), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # requested | open | revoked | expired
    Column("expires_at", BigInteger, index=True),  # epoch microseconds, while open
    Column("sequence", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # items, purpose, scenario, method, period
)


notary = Table(
    "notary_state", metadata,
    # The trail's head as the notary last signed it: enough to extend it one record at a time.
    Column("origin", String(200), primary_key=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),  # merkle.Frontier.to_bytes()
    Column("chain_head", LargeBinary, nullable=False),
    Column("checkpoints", Integer, nullable=False),
)
