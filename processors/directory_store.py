"""Where the department directory the validator decides with is kept (its rules:
processors/rules/directory.py): who exists, under which jurisdiction, in which roles, signing
with which keys, as it stood at any instant.

It changes only by events (events/directory.py): the platform administrator's, judged here, and
the first directory, which govshare registers itself from policies/departments.toml (and the
public keys beside it) when the validator first starts on an empty directory. Every version is
kept from the instant it was recorded, so an event is judged with the directory as it stood
when the event was received; the first directory stands from the beginning of time.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select, update

from events import directory as ev
from events.codec import Event
from events.envelope import Actor, Envelope, Role
from events.registry import kind_for
from events.signing import key_id as key_id_of
from events.signing import public_from_text, public_text
from processors import store
from processors.aggregates import state_text
from processors.profiles import Department, Policies
from processors.rules.directory import Directory, Key

FIRST = 0  # `since` of the directory govshare started with: valid from the beginning
BOOTSTRAP = Actor(department="govshare", person="bootstrap", role=Role.SYSTEM)
SEED_NAMESPACE = uuid.UUID("0b6f5d0e-5a55-4c1b-8f64-2f1e9c3a7d42")


def load(conn: Connection) -> Directory:
    """The directory as the validator's tables hold it: every version of each department and
    every key."""
    found = Directory()
    v = store.directory_versions
    for r in conn.execute(select(v).order_by(v.c.department_id, v.c.since)):
        found.add(r.department_id, r.since, r.name, r.policy_id, tuple(r.roles.split(",")))
    for r in conn.execute(select(store.directory_keys)):
        found.keys[r.key_id] = Key(r.key_id, r.department_id, public_from_text(r.public_key),
                                   r.registered_at, r.revoked_at)
    return found


def seed(tx: Connection, policies: Policies, public_keys: dict[str, list[bytes]], at: datetime) -> list[Event]:
    """Register the first directory (the policies' departments, each with the public keys
    found for it) and return the events that record it in the trail. Raises IntegrityError if
    another worker seeded first."""
    events: list[Event] = []
    for department in policies.departments.values():
        tx.execute(insert(store.directory_versions).values(
            department_id=department.id, since=FIRST, name=department.name,
            policy_id=department.policy_id, roles=",".join(department.roles)))
        changes: list = [ev.DepartmentRegistered(name=department.name, policy_id=department.policy_id,
                                                 roles=department.roles)]
        for raw in public_keys.get(department.id, []):
            kid = key_id_of(raw)
            tx.execute(insert(store.directory_keys).values(
                key_id=kid, department_id=department.id, public_key=public_text(raw), registered_at=FIRST))
            changes.append(ev.DepartmentKeyRegistered(key_id=kid, public_key=public_text(raw)))
        for sequence, payload in enumerate(changes, start=1):
            events.append(_seeded(department, sequence, payload, at))
        tx.execute(insert(store.aggregates).values(aggregate_type=ev.AGGREGATE, aggregate_id=department.id,
                                                   state=state_text({"sequence": len(changes)})))
    return events


def _seeded(department: Department, sequence: int, payload, at: datetime) -> Event:
    kind = kind_for(payload)
    event_id = uuid.uuid5(SEED_NAMESPACE, f"{department.id} {sequence}")
    return Event(Envelope(
        event_id=event_id, event_type=kind.event_type, schema_version=kind.version,
        aggregate_type=ev.AGGREGATE, aggregate_id=department.id, sequence=sequence, occurred_at=at,
        recorded_at=at, actor=BOOTSTRAP, policy_id=department.policy_id, correlation_id=event_id,
        source="govshare/bootstrap"), payload)


def public_keys_in(directory: Path | None) -> dict[str, list[bytes]]:
    """`<department>.pub` files (base64 raw public keys, as `govshare keygen` writes them)."""
    found: dict[str, list[bytes]] = {}
    if directory is None or not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.pub")):
        found.setdefault(path.stem, []).append(public_from_text(path.read_text().strip()))
    return found


def record(tx: Connection, directory: Directory, event: Event, at: int) -> None:
    """Write an accepted change, valid from `at` (epoch microseconds), and keep it in memory."""
    env, p = event.envelope, event.payload
    if isinstance(p, (ev.DepartmentRegistered, ev.DepartmentChanged)):
        # Two changes received at one instant (a broker stamps milliseconds): the later one is
        # how the department stands from that instant.
        versions = store.directory_versions.c
        tx.execute(delete(store.directory_versions).where(versions.department_id == env.aggregate_id,
                                                          versions.since == at))
        tx.execute(insert(store.directory_versions).values(
            department_id=env.aggregate_id, since=at, name=p.name, policy_id=p.policy_id, roles=",".join(p.roles)))
        directory.add(env.aggregate_id, at, p.name, p.policy_id, tuple(p.roles))
    elif isinstance(p, ev.DepartmentKeyRegistered):
        tx.execute(insert(store.directory_keys).values(
            key_id=p.key_id, department_id=env.aggregate_id, public_key=p.public_key, registered_at=at))
        directory.keys[p.key_id] = Key(p.key_id, env.aggregate_id, public_from_text(p.public_key), at)
    else:
        tx.execute(update(store.directory_keys).where(store.directory_keys.c.key_id == p.key_id)
                   .values(revoked_at=at))
        k = directory.keys[p.key_id]
        directory.keys[p.key_id] = Key(k.key_id, k.department, k.public_raw, k.registered_at, at)
