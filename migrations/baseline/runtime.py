"""The runtime's tables in every stage's database as released at a9b27a3 (runtime/store.py), frozen: the baseline revision creates
exactly these, and the migrations after it change them. Never edit; add a revision."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

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
