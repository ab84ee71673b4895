"""The audit trail read model: the notary's checkpoints applied, and the trail read back step
by step (who, what, when, why, and the state each step led to)."""
from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    func,
    insert,
    or_,
    select,
)

from events import merkle
from events.codec import Event, decode_payload, decode_record
from events.envelope import Envelope
from events.records import to_json
from events.registry import kind_of
from audit.trail import TrailCheckpointed
from projections.apply import apply_event
from projections.queries import utc
from projections.sealed import attempted_by
from projections.tables import (
    accesses,
    catalog_entries,
    dead_letters,
    deadlines,
    event_log,
    grants,
    metadata,
    objections,
    rejections,
    share_requests,
    trail_checkpoints,
    trail_entries,
    trail_pending,
    usage_violations,
)

# Where the state an aggregate's event led to is read: its row in the read model.
STATE_OF = {
    "catalog-entry": (catalog_entries, "entry_id"),
    "share-request": (share_requests, "request_id"),
    "grant": (grants, "grant_id"),
    "data-access": (accesses, "access_id"),
    "usage-supervision": (usage_violations, "access_id"),
    "objection": (objections, "objection_id"),
    "deadline": (deadlines, "deadline_id"),
}


def hold_checkpoint(p: TrailCheckpointed, payload: bytes, env: Envelope, tx: Connection) -> bool:
    """Keep a checkpoint (and its bytes) until every record it covers is projected (see
    `apply_ready`)."""
    known = select(trail_checkpoints.c.tree_size).where(trail_checkpoints.c.tree_size == p.tree_size)
    waiting = select(trail_pending.c.tree_size).where(trail_pending.c.tree_size == p.tree_size)
    if tx.execute(known).first() or tx.execute(waiting).first():
        return False
    tx.execute(insert(trail_pending), dict(tree_size=p.tree_size, event_id=str(env.event_id),
                                           payload=payload))
    return True


def apply_ready(tx: Connection) -> int:
    """Append, in order, the held checkpoints whose records are all projected."""
    applied = 0
    while True:
        row = tx.execute(select(trail_pending).order_by(trail_pending.c.tree_size).limit(1)).first()
        if row is None:
            return applied
        p: TrailCheckpointed = decode_payload(row.payload)
        size = tx.scalar(select(func.coalesce(func.max(trail_entries.c.position) + 1, 0)))
        if p.previous_size != size or not _all_projected(tx, [leaf.record_id for leaf in p.leaves]):
            return applied
        apply_checkpoint(p, row.event_id, tx)
        tx.execute(delete(trail_pending).where(trail_pending.c.tree_size == row.tree_size))
        applied += 1


def _all_projected(tx: Connection, ids: list[str]) -> bool:
    found = tx.scalar(select(func.count()).select_from(event_log).where(event_log.c.event_id.in_(ids)))
    if found < len(ids):
        found += tx.scalar(select(func.count()).select_from(dead_letters).where(dead_letters.c.id.in_(ids)))
    return found == len(ids)


def apply_checkpoint(p: TrailCheckpointed, event_id: str, tx: Connection) -> None:
    chain = merkle.CHAIN_START if p.previous_size == 0 else tx.scalar(
        select(trail_entries.c.chain_hash).where(trail_entries.c.position == p.previous_size - 1))
    rows = []
    for i, leaf in enumerate(p.leaves):
        chain = merkle.chain_hash(chain, leaf.leaf_hash)
        rows.append(dict(position=p.previous_size + i, record_id=leaf.record_id, kind=leaf.kind.value,
                         leaf_hash=leaf.leaf_hash, chain_hash=chain, checkpoint_size=p.tree_size))
    if rows:
        tx.execute(insert(trail_entries), rows)
    tx.execute(insert(trail_checkpoints), dict(
        tree_size=p.tree_size, previous_size=p.previous_size, origin=p.origin,
        root_hash=p.root_hash, chain_head=p.chain_head, signed_at=p.signed_at, key_id=p.key_id,
        signature=p.signature, event_id=event_id))


def steps(engine: Engine, *, aggregate: str | None = None, subject: str | None = None,
          department: str | None = None, actor: str | None = None, since: datetime | None = None,
          until: datetime | None = None, with_state: bool = True,
          with_record: bool = False, after: int | None = None,
          limit: int | None = None) -> list[dict[str, Any]]:
    """The trail's events in trail order, each with who, what, when, why and the state after.

    An aggregate's trail includes the rejections of events published for it: a refusal, and
    the rule it broke, is part of what happened to it. So are a department's or a person's:
    `department` and `actor` select the events they acted in and the refusals of what they
    tried (whose own actor is the validator). A `subject`'s story is its aggregate's trail and
    what followed from it: the events its own events set going (their correlation id: a grant
    opened, a limit scheduled) and what befell the limits that ran on it (breach, escalation).
    Pages: at most `limit` steps, those
    after trail position `after`; events not yet in a signed checkpoint have no position and
    come last.
    """
    q = _in_trail_order(event_log, trail_entries.c.position, trail_entries.c.kind, trail_entries.c.leaf_hash)
    if aggregate:
        refused = select(rejections.c.event_id).where(rejections.c.aggregate_id == aggregate)
        q = q.where(or_(event_log.c.aggregate_id == aggregate, event_log.c.event_id.in_(refused)))
    if subject:
        q = q.where(_story_of(subject))
    if department:
        q = q.where(_acted_or_tried(event_log.c.actor_department, rejections.c.attempted_by_department,
                                    department))
    if actor:
        q = q.where(_acted_or_tried(event_log.c.actor_person, rejections.c.attempted_by_person, actor))
    if since:
        q = q.where(event_log.c.recorded_at >= since)
    if until:
        q = q.where(event_log.c.recorded_at <= until)
    if after is not None:
        q = q.where(or_(trail_entries.c.position > after, trail_entries.c.position.is_(None)))
    if limit:
        q = q.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(q).all()
    out = [_step(r, with_record) for r in rows]
    if with_state and out:
        for step, state in zip(out, _states_after(engine, rows)):
            step["state_after"] = state
    return out


def _story_of(subject: str):
    own = event_log.alias("own")  # its own events, apart from the events the query selects
    return or_(event_log.c.aggregate_id == subject,
               event_log.c.event_id.in_(select(rejections.c.event_id).where(rejections.c.aggregate_id == subject)),
               event_log.c.correlation_id.in_(select(own.c.correlation_id).where(own.c.aggregate_id == subject)),
               event_log.c.aggregate_id.in_(select(deadlines.c.deadline_id).where(deadlines.c.subject_id == subject)))


def _acted_or_tried(acted, tried, value: str):
    """Events whose actor is `value`, and rejections of what `value` tried (the rejections
    columns are checked against their sealed records by `verify`, so may select)."""
    refused = select(rejections.c.event_id).where(tried == value)
    return or_(acted == value, event_log.c.event_id.in_(refused))


def _in_trail_order(*columns):
    """Events in trail order; those not yet in a signed checkpoint last, by recording time."""
    return (select(*columns)
            .select_from(event_log.outerjoin(trail_entries, trail_entries.c.record_id == event_log.c.event_id))
            .order_by(trail_entries.c.position.is_(None), trail_entries.c.position, event_log.c.recorded_at))


def _step(r, with_record: bool) -> dict[str, Any]:
    """One step, read from the sealed record rather than the columns beside it: what a reader
    sees is what was signed (`verify` checks that the columns, used to select, agree)."""
    envelope, payload_bytes = decode_record(r.record)
    decoded = decode_payload(payload_bytes, kind_of(envelope.event_type))
    payload = to_json(decoded)
    e = envelope
    why = {"causation_id": str(e.causation_id) if e.causation_id else None,
           "correlation_id": str(e.correlation_id)}
    if e.event_type == "EventRejected":
        why |= {"rule": payload["rule"], "article": payload["article"], "message": payload["message"],
                # Who tried what was refused (None in rejections recorded before it was kept).
                "attempted_by": _tried(decoded, e, payload.get("attempted_by"))}
    step = {
        "position": r.position, "kind": r.kind or "NOT YET CHECKPOINTED", "event_id": str(e.event_id),
        "who": {"department": e.actor.department, "person": e.actor.person, "role": e.actor.role.value,
                # The department key the submission was signed with (none for govshare's own).
                "signing_key": e.signing_key},
        "what": {"event_type": e.event_type, "aggregate_type": e.aggregate_type,
                 "aggregate_id": e.aggregate_id, "sequence": e.sequence, "payload": payload},
        "when": {"occurred_at": e.occurred_at.isoformat(),
                 "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None},
        "why": why, "policy_id": e.policy_id,
        "leaf_hash": r.leaf_hash.hex() if r.leaf_hash else None,
    }
    if with_record:
        step["record"] = base64.b64encode(r.record).decode()
    return step


def _tried(refusal, env: Envelope, named: dict | None) -> dict | None:
    """Who tried, as the refusal is listed: the department whose key signed the refused event,
    and the one it claimed beside it where that was another (sealed.attempted_by)."""
    department, claimed = attempted_by(refusal, env)
    if claimed is None:
        return named
    return {**named, "department": department, "claimed_department": claimed}


def _states_after(engine: Engine, selected: list) -> Iterator[dict[str, Any] | None]:
    """Replay every event of the aggregates concerned, in trail order, into a scratch
    database with the projections' own code, and read each aggregate's row after its step."""
    wanted = {(r.aggregate_type, r.aggregate_id) for r in selected}
    targets = {r.event_id: (r.aggregate_type, r.aggregate_id) for r in selected}
    q = (_in_trail_order(event_log.c.event_id, event_log.c.aggregate_type, event_log.c.aggregate_id,
                         event_log.c.record)
         .where(event_log.c.aggregate_id.in_({aggregate_id for _, aggregate_id in wanted})))
    scratch = create_engine("sqlite://")
    metadata.create_all(scratch)
    states: dict[str, dict[str, Any] | None] = {}
    with engine.connect() as conn, scratch.begin() as tx:
        for r in conn.execute(q):
            if (r.aggregate_type, r.aggregate_id) not in wanted:
                continue
            envelope, payload_bytes = decode_record(r.record)
            apply_event(Event(envelope, decode_payload(payload_bytes, kind_of(envelope.event_type))), tx)
            if r.event_id in targets:
                states[r.event_id] = _state(tx, *targets[r.event_id])
                if len(states) == len(targets):
                    break  # a page's states need nothing after its last step
    for r in selected:
        yield states.get(r.event_id)


def _state(tx: Connection, aggregate_type: str, aggregate_id: str) -> dict[str, Any] | None:
    if aggregate_type not in STATE_OF:
        return None
    table, key = STATE_OF[aggregate_type]
    row = tx.execute(select(table).where(table.c[key] == aggregate_id)).mappings().first()
    if row is None:
        return None
    return {k: (utc(v).isoformat() if isinstance(v, datetime) else v) for k, v in row.items()
            if not isinstance(v, bytes)}


def export_rows(engine: Engine, **filters) -> list[dict[str, Any]]:
    """Flat rows for JSON Lines and CSV: each step with its record's bytes and leaf hash, so a
    reader can recompute the leaf and check it with `govshare prove`."""
    rows = []
    for s in steps(engine, with_state=False, with_record=True, **filters):
        rows.append({
            "position": s["position"], "kind": s["kind"], "event_id": s["event_id"],
            "event_type": s["what"]["event_type"], "aggregate_type": s["what"]["aggregate_type"],
            "aggregate_id": s["what"]["aggregate_id"], "sequence": s["what"]["sequence"],
            "actor_department": s["who"]["department"], "actor_person": s["who"]["person"],
            "actor_role": s["who"]["role"], "signing_key": s["who"]["signing_key"],
            "occurred_at": s["when"]["occurred_at"],
            "recorded_at": s["when"]["recorded_at"], "correlation_id": s["why"]["correlation_id"],
            "causation_id": s["why"]["causation_id"], "rule": s["why"].get("rule"),
            "article": s["why"].get("article"), **_attempted_by(s["why"].get("attempted_by")),
            "policy_id": s["policy_id"],
            "leaf_hash": s["leaf_hash"],
            "record": s["record"],
        })
    return rows


def _attempted_by(actor: dict | None) -> dict[str, Any]:
    actor = actor or {}
    return {"attempted_by_department": actor.get("department"), "attempted_by_person": actor.get("person"),
            "attempted_by_role": actor.get("role"), "claimed_department": actor.get("claimed_department")}
