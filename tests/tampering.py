"""What an intruder with the database owner's rights does to a copy of the trail: shared by the
trail tests and the tampering probe (bench.tamper), so both try the same changes."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, insert, select

from events import merkle
from events.codec import decode_record, encode_record
from projections.tables import dead_letters, event_log, rejections, trail_checkpoints, trail_entries


def flip_a_byte(tx, event_id: str, at: int = 40) -> bytes:
    record = tx.scalar(select(event_log.c.record).where(event_log.c.event_id == event_id))
    at %= len(record)
    changed = record[:at] + bytes([record[at] ^ 0x01]) + record[at + 1:]
    tx.execute(event_log.update().where(event_log.c.event_id == event_id).values(record=changed))
    return changed


def rehash_from(tx, position: int, changed: bytes) -> None:
    """Rewrite the leaf of `position` for its changed bytes and the chain after it, as an
    intruder covering their tracks would."""
    chain = tx.scalar(select(trail_entries.c.chain_hash).where(
        trail_entries.c.position == position - 1)) if position else merkle.CHAIN_START
    rows = tx.execute(select(trail_entries).where(trail_entries.c.position >= position)
                      .order_by(trail_entries.c.position)).all()
    for r in rows:
        leaf = merkle.leaf_hash(changed) if r.position == position else r.leaf_hash
        chain = merkle.chain_hash(chain, leaf)
        tx.execute(trail_entries.update().where(trail_entries.c.position == r.position)
                   .values(leaf_hash=leaf, chain_hash=chain))


def forge_like(tx, model_id: str, recorded: datetime, sequence: int | None = None) -> str:
    """A copy of an event under a new id, recorded at `recorded`, with bytes that say so; by
    default it takes the next sequence of its aggregate, so two forgeries never collide."""
    row = tx.execute(select(event_log).where(event_log.c.event_id == model_id)).one()._asdict()
    if sequence is None:
        sequence = 1 + tx.scalar(select(func.max(event_log.c.sequence)).where(
            event_log.c.aggregate_type == row["aggregate_type"],
            event_log.c.aggregate_id == row["aggregate_id"]))
    forged_id = str(uuid.uuid4())
    envelope, payload = decode_record(row["record"])
    forged = replace(envelope, event_id=uuid.UUID(forged_id), sequence=sequence, recorded_at=recorded)
    tx.execute(insert(event_log), row | dict(event_id=forged_id, sequence=sequence, recorded_at=recorded,
                                             record=encode_record(forged, payload)))
    return forged_id


def cut_newest_checkpoint(tx):
    """Remove the newest checkpoint with every entry and record it covers, as a trail cut back
    at its end; returns that checkpoint's row and the ids removed, in trail order."""
    newest = tx.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size.desc())
                        .limit(1)).one()
    cut = list(tx.scalars(select(trail_entries.c.record_id)
                          .where(trail_entries.c.position >= newest.previous_size)
                          .order_by(trail_entries.c.position)))
    for table, key in ((event_log, "event_id"), (dead_letters, "id"), (rejections, "event_id")):
        tx.execute(table.delete().where(table.c[key].in_(cut)))
    tx.execute(trail_entries.delete().where(trail_entries.c.position >= newest.previous_size))
    tx.execute(trail_checkpoints.delete().where(trail_checkpoints.c.tree_size == newest.tree_size))
    return newest, cut
