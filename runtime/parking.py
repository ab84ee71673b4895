"""Parked events: what a stage could not apply, set aside so that everything after it goes on.

A parked message keeps its bytes, where it came from, and the error. `govshare query parked`
lists them; `govshare retry-parked` marks them for a retry, which the stage's own loop runs (it
owns the state and the outputs), keeping the event parked with the new error if it fails again.
`govshare dismiss` sets one aside for good (a forged record, say), once the platform
administrator's signed dismissal with its reason is on the trail (infra/dismissal.py).
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, update

from events.publisher import Outgoing
from runtime import store
from runtime.message import Incoming

PARKED, RETRY, DONE, DISMISSED = "parked", "retry", "done", "dismissed"
# What no longer waits on anyone: applied by a retry, or dismissed with a recorded reason.
SETTLED = (DONE, DISMISSED)


def _header(headers, name: str) -> str | None:
    for k, v in headers or ():
        if k == name and v is not None:
            return v.decode("utf-8", "replace")[:100]
    return None


def park(tx: Connection, stage: str, m: Incoming, error: str) -> None:
    now = datetime.now(timezone.utc)
    tx.execute(insert(store.parked), dict(
        stage=stage, event_id=_header(m.headers, "ce_id"), event_type=_header(m.headers, "ce_type"),
        topic=m.topic, partition=m.partition, offset=m.offset, key=m.key, value=m.value,
        headers=store.headers_to_text(m.headers), error=error, attempts=1, status=PARKED,
        parked_at=now, updated_at=now))


def park_output(tx: Connection, stage: str, out: Outgoing, error: str) -> None:
    """An output the broker refused for good: kept, visible, never blocking a restart."""
    now = datetime.now(timezone.utc)
    tx.execute(insert(store.parked), dict(
        stage=stage, event_id=_header(out.headers, "ce_id"), event_type=_header(out.headers, "ce_type"),
        topic=out.topic, partition=None, offset=None, key=out.key, value=out.value,
        headers=store.headers_to_text(out.headers), error=f"output not published: {error}",
        attempts=1, status=PARKED, parked_at=now, updated_at=now))


def to_retry(tx: Connection, stage: str) -> list[tuple[int, Incoming]]:
    """Parked messages of `stage` that an operator asked to run again, oldest first."""
    rows = tx.execute(select(store.parked).where(
        store.parked.c.stage == stage, store.parked.c.status == RETRY,
        store.parked.c.offset.is_not(None)).order_by(store.parked.c.id)).all()
    return [(r.id, Incoming(r.topic, r.partition, r.offset, r.parked_at, r.key, r.value,
                            store.headers_from_text(r.headers))) for r in rows]


def settle(tx: Connection, parked_id: int, error: str | None) -> None:
    """A retry applied the message (error None), or failed again with `error`."""
    values: dict[str, Any] = dict(updated_at=datetime.now(timezone.utc),
                                  attempts=store.parked.c.attempts + 1)
    values |= dict(status=DONE) if error is None else dict(status=PARKED, error=error)
    tx.execute(update(store.parked).where(store.parked.c.id == parked_id).values(**values))


def one(engine: Engine, parked_id: int) -> dict[str, Any] | None:
    """A parked message with its bytes, by its id in `govshare query parked`."""
    with engine.connect() as conn:
        row = conn.execute(select(store.parked).where(store.parked.c.id == parked_id)).first()
    return dict(row._mapping) if row else None


def dismiss(engine: Engine, topic: str, partition: int, offset: int, sha256: str, note: str) -> int:
    """Set aside for good every copy a stage of this database parked of the message at this
    place with these bytes; `note` names the dismissal on the trail. How many were marked."""
    p = store.parked.c
    with engine.begin() as tx:
        rows = tx.execute(select(p.id, p.value).where(p.topic == topic, p.partition == partition,
                                                      p.offset == offset, p.status.not_in(SETTLED))).all()
        ids = [r.id for r in rows if hashlib.sha256(r.value or b"").hexdigest() == sha256]
        if ids:
            tx.execute(update(store.parked).where(p.id.in_(ids)).values(
                status=DISMISSED, error=note, updated_at=datetime.now(timezone.utc)))
        return len(ids)


def request_retry(engine: Engine, stage: str | None = None, parked_id: int | None = None) -> int:
    """Mark parked messages for a retry by their stage; returns how many."""
    q = update(store.parked).where(store.parked.c.status == PARKED, store.parked.c.offset.is_not(None))
    if stage:
        q = q.where(store.parked.c.stage == stage)
    if parked_id is not None:
        q = q.where(store.parked.c.id == parked_id)
    with engine.begin() as tx:
        return tx.execute(q.values(status=RETRY)).rowcount


def listed(engine: Engine, *, stage: str | None = None, include_done: bool = False) -> list[dict[str, Any]]:
    q = select(store.parked.c.id, store.parked.c.stage, store.parked.c.status, store.parked.c.event_id,
               store.parked.c.event_type, store.parked.c.topic, store.parked.c.partition,
               store.parked.c.offset, store.parked.c.attempts, store.parked.c.error,
               store.parked.c.parked_at, store.parked.c.updated_at).order_by(store.parked.c.id)
    if stage:
        q = q.where(store.parked.c.stage == stage)
    if not include_done:
        q = q.where(store.parked.c.status.not_in(SETTLED))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def counts(engine: Engine) -> dict[str, int]:
    """Messages parked and neither applied nor dismissed, per stage."""
    with engine.connect() as conn:
        return dict(conn.execute(select(store.parked.c.stage, func.count()).where(
            store.parked.c.status.not_in(SETTLED)).group_by(store.parked.c.stage)).all())
