"""The catalog read model: current entries, every version, revisions under review, obligations.

It only applies accepted events; the validator has already decided they are valid.
"""
from __future__ import annotations

import json
from functools import singledispatch

from sqlalchemy import Connection, insert, select, update

from events import catalog as ev
from events import opendata as od
from events import project as pj
from events.envelope import Envelope
from events.records import from_plain, to_json
from projections.tables import (
    open_data_applications,
    system_projects,
    catalog_entries,
    catalog_entry_versions,
    catalog_obligations,
    catalog_revisions,
)


def _attributes_json(attrs: ev.EntryAttributes) -> str:
    return json.dumps(to_json(attrs), ensure_ascii=False, sort_keys=True)


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an event this read model keeps (projections/apply.py hands every event to each)."""


def _entry_key(env: Envelope):
    return catalog_entries.c.entry_id == env.aggregate_id


def _new_version(env: Envelope, tx: Connection, attrs: ev.EntryAttributes, note: str) -> None:
    current = tx.execute(select(catalog_entries.c.version).where(_entry_key(env))).scalar_one()
    version = current + 1
    tx.execute(update(catalog_entries).where(_entry_key(env)).values(
        title=attrs.title, share_type=attrs.share_type.value, open_type=attrs.open_type.value,
        attributes=_attributes_json(attrs),
        version=version, sequence=env.sequence, updated_at=env.recorded_at,
        pending_revision_id=None))
    _record_version(env, tx, version, attrs, note)


def _record_version(env: Envelope, tx: Connection, version: int, attrs: ev.EntryAttributes,
                    note: str) -> None:
    tx.execute(insert(catalog_entry_versions), dict(
        entry_id=env.aggregate_id, version=version, event_id=str(env.event_id),
        event_type=env.event_type, actor_department=env.actor.department,
        actor_person=env.actor.person, note=note, attributes=_attributes_json(attrs),
        recorded_at=env.recorded_at))


def _touch(env: Envelope, tx: Connection, **values) -> None:
    tx.execute(update(catalog_entries).where(_entry_key(env)).values(
        sequence=env.sequence, updated_at=env.recorded_at, **values))


@apply.register
def _(payload: ev.EntryRegistered, env: Envelope, tx: Connection) -> None:
    attrs = payload.attributes
    tx.execute(insert(catalog_entries), dict(
        entry_id=env.aggregate_id, title=attrs.title, provider=env.actor.department,
        policy_id=env.policy_id, share_type=attrs.share_type.value, open_type=attrs.open_type.value,
        status="published",
        version=1, sequence=env.sequence, attributes=_attributes_json(attrs),
        registered_at=env.recorded_at, updated_at=env.recorded_at))
    _record_version(env, tx, 1, attrs, "registered")


@apply.register
def _(payload: ev.EntryRevised, env: Envelope, tx: Connection) -> None:
    _new_version(env, tx, payload.attributes, payload.reason)


@apply.register
def _(payload: ev.EntryTakenDown, env: Envelope, tx: Connection) -> None:
    _touch(env, tx, status="taken_down", pending_revision_id=None)
    tx.execute(update(catalog_obligations).where(
        catalog_obligations.c.entry_id == env.aggregate_id, catalog_obligations.c.status == "open")
        .values(status="closed", closed_at=env.recorded_at))


@apply.register
def _(payload: ev.ChangeObligationRaised, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(catalog_obligations), dict(
        entry_id=env.aggregate_id, obligation_id=payload.obligation_id,
        trigger=payload.trigger.value, reference=payload.reference,
        received_on=payload.received_on.isoformat(), status="open", extensions_granted=0,
        extension_requested=0, raised_at=env.recorded_at))
    _touch(env, tx)


@apply.register
def _(payload: ev.RevisionSubmitted, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(catalog_revisions), dict(
        entry_id=env.aggregate_id, revision_id=payload.revision_id, sequence=env.sequence, status="pending",
        obligation_id=payload.obligation_id, attributes=_attributes_json(payload.attributes),
        decision_note="", submitted_at=env.recorded_at))
    _touch(env, tx, pending_revision_id=payload.revision_id)


def _revision_key(env: Envelope, revision_id: str):
    """The submission under review: a revision id used again after a rejection names the
    newest one."""
    return (catalog_revisions.c.entry_id == env.aggregate_id) & \
        (catalog_revisions.c.revision_id == revision_id) & (catalog_revisions.c.status == "pending")


@apply.register
def _(payload: ev.RevisionApproved, env: Envelope, tx: Connection) -> None:
    revision = tx.execute(select(catalog_revisions).where(
        _revision_key(env, payload.revision_id))).one()
    attrs = from_plain(ev.EntryAttributes, json.loads(revision.attributes))
    _new_version(env, tx, attrs, f"revision {payload.revision_id} approved")
    tx.execute(update(catalog_revisions).where(_revision_key(env, payload.revision_id)).values(
        status="approved", decision_note=payload.comment, decided_at=env.recorded_at))
    if revision.obligation_id:
        tx.execute(update(catalog_obligations).where(_obligation_key(env, revision.obligation_id))
                   .values(status="fulfilled", closed_at=env.recorded_at))


@apply.register
def _(payload: ev.RevisionRejected, env: Envelope, tx: Connection) -> None:
    tx.execute(update(catalog_revisions).where(_revision_key(env, payload.revision_id)).values(
        status="rejected", decision_note=payload.reasons, decided_at=env.recorded_at))
    _touch(env, tx, pending_revision_id=None)


def _obligation_key(env: Envelope, obligation_id: str):
    return (catalog_obligations.c.entry_id == env.aggregate_id) & \
        (catalog_obligations.c.obligation_id == obligation_id)


@apply.register
def _(payload: ev.ExtensionRequested, env: Envelope, tx: Connection) -> None:
    tx.execute(update(catalog_obligations).where(_obligation_key(env, payload.obligation_id))
               .values(extension_requested=1))
    _touch(env, tx)


@apply.register
def _(payload: ev.ExtensionGranted, env: Envelope, tx: Connection) -> None:
    tx.execute(update(catalog_obligations).where(_obligation_key(env, payload.obligation_id))
               .values(extension_requested=0,
                       extensions_granted=catalog_obligations.c.extensions_granted + 1))
    _touch(env, tx)


@apply.register
def _(payload: ev.ExtensionRefused, env: Envelope, tx: Connection) -> None:
    tx.execute(update(catalog_obligations).where(_obligation_key(env, payload.obligation_id))
               .values(extension_requested=0))
    _touch(env, tx)


@apply.register
def _(p: ev.DataAggregated, env: Envelope, tx: Connection) -> None:
    _touch(env, tx, aggregated_to=p.platform, aggregated_at=env.recorded_at, refreshed_at=env.recorded_at)


@apply.register
def _(p: ev.DataRefreshed, env: Envelope, tx: Connection) -> None:
    _touch(env, tx, refreshed_at=env.recorded_at)


@apply.register
def _(p: ev.AggregationRequired, env: Envelope, tx: Connection) -> None:
    _touch(env, tx)


@apply.register
def _(p: pj.SystemProjectSubmitted, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(system_projects), dict(
        project_id=env.aggregate_id, department=env.actor.department, system=p.system,
        entries=json.dumps(list(p.entries), ensure_ascii=False), status="submitted", submitted_at=env.recorded_at))


@apply.register
def _(p: pj.SystemProjectReviewed, env: Envelope, tx: Connection) -> None:
    tx.execute(update(system_projects).where(system_projects.c.project_id == env.aggregate_id).values(
        status="approved" if p.approved else "refused", opinion=p.opinion, reviewed_by=env.actor.department,
        reviewed_at=env.recorded_at))


@apply.register
def _(p: ev.OpenDataRiskAssessed, env: Envelope, tx: Connection) -> None:
    _touch(env, tx, open_risk_assessment=p.reference)


@apply.register
def _(p: od.OpenDataApplied, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(open_data_applications), dict(
        application_id=env.aggregate_id, entry_id=p.entry_id, applicant=p.applicant,
        applicant_kind=p.applicant_kind.value, purpose=p.purpose, scenario=p.scenario, status="submitted",
        submitted_by=env.actor.department, submitted_at=env.recorded_at))


def _application(env: Envelope, tx: Connection, **values) -> None:
    tx.execute(update(open_data_applications).where(open_data_applications.c.application_id == env.aggregate_id)
               .values(**values))


@apply.register
def _(p: od.OpenDataProviderAssessed, env: Envelope, tx: Connection) -> None:
    _application(env, tx, provider_agrees=p.agrees, reasons=p.reasons or None)


@apply.register
def _(p: od.OpenDataApplicationDecided, env: Envelope, tx: Connection) -> None:
    _application(env, tx, status="approved" if p.approved else "refused", agreement=p.agreement or None,
                 reasons=p.reasons or None, decided_at=env.recorded_at)
