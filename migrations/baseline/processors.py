"""The processors' own tables as released at a9b27a3 (processors/store.py), frozen: the baseline revision creates
exactly these, and the migrations after it change them. Never edit; add a revision."""
from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

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

waiting_accesses = Table(
    # Accesses naming a grant whose request is not decided yet: they wait for the decision
    # (bounded), because the approval may still be on its way on another topic.
    "proc_waiting_accesses", metadata,
    Column("access_id", String(200), primary_key=True),
    Column("grant_id", String(200), nullable=False, index=True),
    Column("since", BigInteger, nullable=False, index=True),  # epoch microseconds, system clock
    Column("headers", Text, nullable=False),
    Column("value", LargeBinary, nullable=False),
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
