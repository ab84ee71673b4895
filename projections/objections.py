"""The objections read model: the closed loop of problem data, each entry's data versions, and
conflicting values between two providers' entries."""
from __future__ import annotations

import json
from functools import singledispatch

from sqlalchemy import Connection, insert, select, update

from events import conflict as cf
from events import objection as ob
from events.envelope import Envelope
from projections.tables import data_conflicts, data_versions, objections


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an event this read model keeps (projections/apply.py hands every event to each)."""


def _set(env: Envelope, tx: Connection, **values) -> None:
    tx.execute(update(objections).where(objections.c.objection_id == env.aggregate_id).values(**values))


@apply.register
def _(p: ob.ObjectionReported, env: Envelope, tx: Connection) -> None:
    # The provider is joined at query time: the entry's own events may be projected later.
    tx.execute(insert(objections), dict(
        objection_id=env.aggregate_id, entry_id=p.entry_id, reporter=env.actor.department,
        kind=p.kind.value, records=json.dumps(list(p.records), ensure_ascii=False),
        fields=json.dumps(list(p.fields), ensure_ascii=False), expected=p.expected,
        urgent=int(p.urgent), channel=p.channel.value, status="open", round=1,
        reported_at=env.recorded_at))


@apply.register
def _(p: ob.ObjectionExtensionRequested, env: Envelope, tx: Connection) -> None:
    pass  # visible in the trail; the limit changes only when granted


@apply.register
def _(p: ob.ObjectionExtensionGranted, env: Envelope, tx: Connection) -> None:
    _set(env, tx, total_natural_days=p.total_natural_days)


@apply.register
def _(p: ob.ObjectionExtensionRefused, env: Envelope, tx: Connection) -> None:
    pass


@apply.register
def _(p: ob.ObjectionResolved, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="resolved", outcome=p.outcome.value, note=p.note,
         resolved_at=env.recorded_at)
    if p.correction is not None:
        entry_id = tx.execute(select(objections.c.entry_id).where(
            objections.c.objection_id == env.aggregate_id)).scalar_one()
        tx.execute(insert(data_versions), dict(
            entry_id=entry_id, data_version=p.correction.data_version, objection_id=env.aggregate_id,
            records=json.dumps(list(p.correction.records), ensure_ascii=False),
            fields=json.dumps(list(p.correction.fields), ensure_ascii=False),
            event_id=str(env.event_id), recorded_at=env.recorded_at))


@apply.register
def _(p: ob.ResolutionAccepted, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="closed", closed_at=env.recorded_at)


@apply.register
def _(p: ob.ResolutionContested, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="open", round=objections.c.round + 1, resolved_at=None)


@apply.register
def _(p: ob.UrgentLimitSet, env: Envelope, tx: Connection) -> None:
    pass  # the deadline projection shows the new limit


@apply.register
def _(p: cf.ValueConflictReported, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(data_conflicts), dict(
        conflict_id=env.aggregate_id, entry_id=p.entry_id, other_entry_id=p.other_entry_id,
        reported_by=env.actor.department, items=p.items, description=p.description, status="open",
        reported_at=env.recorded_at))


def _settle(env: Envelope, tx: Connection, status: str, outcome: str, settled: bool) -> None:
    tx.execute(update(data_conflicts).where(data_conflicts.c.conflict_id == env.aggregate_id).values(
        status=status, outcome=outcome, **({"settled_at": env.recorded_at} if settled else {})))


@apply.register
def _(p: cf.ConflictNegotiated, env: Envelope, tx: Connection) -> None:
    _settle(env, tx, "negotiated", p.agreement, settled=True)


@apply.register
def _(p: cf.ConflictReferred, env: Envelope, tx: Connection) -> None:
    _settle(env, tx, "referred", p.reason, settled=False)


@apply.register
def _(p: cf.ConflictCoordinated, env: Envelope, tx: Connection) -> None:
    _settle(env, tx, "coordinated", p.decision, settled=True)
