"""The deadline engine's copy of the department directory (events/directory.py), kept from the
directory's events like any other input: whose jurisdiction a party is supervised under, and
who is each jurisdiction's data authority. A DepartmentChanged reaches the limits started, and
the breaches escalated, after it.

It starts from the directory govshare started with (the file the validator seeded its own
directory from): on a first start the engine may read a request before its department's first
directory event, which arrives on another topic.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Connection, delete, insert, select

from events.envelope import Role
from processors.profiles import Department
from processors.store import departments as table


def seed(tx: Connection, first: Iterable[Department]) -> None:
    if tx.execute(select(table.c.department_id).limit(1)).first() is None:
        for d in first:
            put(tx, d.id, d.policy_id, d.roles)


def put(tx: Connection, department: str, policy_id: str, roles: Iterable[str]) -> None:
    tx.execute(delete(table).where(table.c.department_id == department))
    tx.execute(insert(table), dict(department_id=department, policy_id=policy_id,
                                   authority=Role.DATA_AUTHORITY in tuple(roles)))


def policy_of(conn: Connection, department: str) -> str | None:
    return conn.execute(select(table.c.policy_id).where(table.c.department_id == department)).scalar()


def authority_of(conn: Connection, policy_id: str) -> str | None:
    """The jurisdiction's data authority (the first by id, should a directory list two)."""
    return conn.execute(select(table.c.department_id).where(table.c.policy_id == policy_id, table.c.authority)
                        .order_by(table.c.department_id).limit(1)).scalar()
