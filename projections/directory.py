"""The read model of the department directory: each department's name, jurisdiction and roles
as the directory's events made them (events/directory.py). The supervisors' views, the API's
scoping and the scorecards read it here, so a DepartmentChanged reaches all of them.

The table starts with the directory govshare started from (the file the validator seeded its
own with), so an event applied before its department's first directory event still finds the
department; each directory event then overwrites its row.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import singledispatch
from typing import Iterable

from sqlalchemy import Connection, delete, insert, select

from events import directory as ev
from events import entrustment as ent
from events.codec import decode_payload, decode_record
from events.envelope import Envelope, Role
from projections.tables import departments, entrustments, event_log


@dataclass(frozen=True, slots=True)
class Listed:
    """A department as the directory lists it now."""
    id: str
    name: str
    policy_id: str
    roles: tuple[str, ...]

    @property
    def authority(self) -> bool:
        return Role.DATA_AUTHORITY.value in self.roles


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not a directory event (projections/apply.py hands every event to each read model)."""


@apply.register(ev.DepartmentRegistered)
@apply.register(ev.DepartmentChanged)
def _(p, env: Envelope, tx: Connection) -> None:
    _put(tx, Listed(env.aggregate_id, p.name, p.policy_id, tuple(p.roles)), env.recorded_at)


def _put(tx: Connection, d: Listed, at: datetime | None) -> None:
    tx.execute(delete(departments).where(departments.c.department_id == d.id))
    tx.execute(insert(departments), dict(department_id=d.id, name=d.name, policy_id=d.policy_id,
                                         roles=",".join(d.roles), authority=d.authority, changed_at=at))


def seed(tx: Connection, first: Iterable[Listed]) -> None:
    """Fill an empty table: from the directory events the log already holds (a database kept
    by an earlier release), else from the directory govshare starts with."""
    if tx.execute(select(departments.c.department_id).limit(1)).first() is not None:
        return
    held = tx.execute(select(event_log.c.record).where(event_log.c.aggregate_type == ev.AGGREGATE)
                      .order_by(event_log.c.aggregate_id, event_log.c.sequence)).scalars().all()
    if not held:
        for d in first:
            _put(tx, d, None)
        return
    for record in held:
        envelope, payload = decode_record(record)
        apply(decode_payload(payload), envelope, tx)


def listed(conn: Connection) -> dict[str, Listed]:
    """Every department, by id."""
    return {r.department_id: Listed(r.department_id, r.name, r.policy_id, tuple(r.roles.split(",")))
            for r in conn.execute(select(departments))}


def lookup(conn: Connection, department: str) -> Listed | None:
    r = conn.execute(select(departments).where(departments.c.department_id == department)).first()
    return Listed(r.department_id, r.name, r.policy_id, tuple(r.roles.split(","))) if r else None


@apply.register
def _(p: ent.EntrustmentApproved, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(entrustments), dict(
        entrustment_id=env.aggregate_id, department=p.department, contractor=p.contractor, purpose=p.purpose,
        reference=p.reference, valid_until=p.valid_until, approved_by=env.actor.department,
        approved_at=env.recorded_at, kind=p.kind.value))
