"""The processors' own tables: the validator's aggregate states and data item sources, the
deadline engine's deadlines, the grant keeper's grants and the notary's head. Consumed
positions and the outbox are the runtime's (runtime/store.py), written in the same transaction.
"""
from __future__ import annotations

from datetime import datetime

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
    insert,
    select,
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

obligations = Table(
    "proc_obligations", metadata,
    # An entry's change obligations, beside its state: a decision loads the ones it concerns.
    Column("entry_id", String(200), primary_key=True),
    Column("obligation_id", String(200), primary_key=True),
    Column("state", Text, nullable=False),  # the catalog.Obligation, as JSON
    Column("open", Boolean, nullable=False, index=True),
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

departments = Table(
    # The deadline engine's copy of the department directory, kept from the directory's events
    # (processors/departments.py): whose jurisdiction a party is supervised under, and who is
    # each jurisdiction's data authority.
    "sched_departments", metadata,
    Column("department_id", String(100), primary_key=True),
    Column("policy_id", String(64), nullable=False, index=True),
    Column("authority", Boolean, nullable=False),
)

entrustments = Table(
    # Contractors a department may entrust with shared data (EntrustmentApproved), kept by the
    # grant keeper: a use for an approved contractor, within its period, is no third party's.
    "proc_entrustments", metadata,
    Column("entrustment_id", String(200), primary_key=True),
    Column("department", String(100), nullable=False, index=True),
    Column("contractor", String(200), nullable=False),
    Column("valid_until", String(10), nullable=False),  # the last day, ISO, in the jurisdiction's zone
)

entries = Table(
    # The deadline engine's copy of each entry's provider and update cycle (更新周期), kept from
    # the catalog's events (processors/entries.py): who must act, and how soon aggregated data
    # must be refreshed.
    "sched_entries", metadata,
    Column("entry_id", String(200), primary_key=True),
    Column("provider", String(100), nullable=False),
    Column("update_frequency", String(100), nullable=False),
    # A submitted revision's cycle, until the authority decides it (RevisionApproved names only
    # the revision).
    Column("pending_revision_id", String(200)),
    Column("pending_frequency", String(100)),
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


grants = Table(
    "proc_grants", metadata,
    Column("grant_id", String(64), primary_key=True),
    Column("request_id", String(200), nullable=False, unique=True),
    Column("entry_id", String(200), nullable=False, index=True),  # a takedown finds its grants
    Column("grantee", String(100), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # requested | open | revoked | expired | withdrawn
    Column("expires_at", BigInteger, index=True),  # epoch microseconds, while open
    Column("sequence", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # items, purpose, scenario, method, period
)


grant_revisions = Table(
    # A submitted revision's data items, kept by the grant keeper until the authority decides:
    # RevisionApproved names only the revision (rule grant-follows-entry).
    "proc_grant_revisions", metadata,
    Column("revision_id", String(200), primary_key=True),
    Column("entry_id", String(200), nullable=False),
    Column("item_codes", Text, nullable=False),  # a JSON list
)


waiting_accesses = Table(
    # Accesses naming a grant whose request is not decided yet: they wait for the decision
    # (bounded), because the approval may still be on its way on another topic.
    "proc_waiting_accesses", metadata,
    Column("access_id", String(200), primary_key=True),
    Column("grant_id", String(200), nullable=False, index=True),
    Column("since", BigInteger, nullable=False, index=True),  # epoch microseconds: when received
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


directory_versions = Table(
    # The department directory as the validator decides with it (processors/rules/directory.py):
    # every version of each department, from the instant it was recorded (epoch microseconds;
    # 0 for the directory govshare started with), so an event is judged with the directory as
    # it stood when the event was received.
    "proc_directory_versions", metadata,
    Column("department_id", String(100), primary_key=True),
    Column("since", BigInteger, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("policy_id", String(64), nullable=False),
    Column("roles", String(200), nullable=False),  # comma-separated
)

directory_keys = Table(
    # Department signing keys: valid from `registered_at` until `revoked_at` (epoch microseconds).
    "proc_directory_keys", metadata,
    Column("key_id", String(64), primary_key=True),
    Column("department_id", String(100), nullable=False, index=True),
    Column("public_key", String(64), nullable=False),  # base64 of the raw 32 bytes
    Column("registered_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)
