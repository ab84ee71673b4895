"""The supervision read model of deadlines: what is due, by whom, and what was escalated."""
from __future__ import annotations

from functools import singledispatch

from sqlalchemy import Connection, insert, update

from events import deadline as dl
from events.envelope import Envelope
from projections.tables import deadlines, supervision_actions


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an event this read model keeps (projections/apply.py hands every event to each)."""


def _set(env: Envelope, tx: Connection, **values) -> None:
    tx.execute(update(deadlines).where(deadlines.c.deadline_id == env.aggregate_id).values(**values))


@apply.register
def _(p: dl.DeadlineScheduled, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(deadlines), dict(
        deadline_id=env.aggregate_id, kind=p.kind, subject_type=p.subject_type,
        subject_id=p.subject_id, obligation_id=p.obligation_id, party=p.party,
        policy_id=env.policy_id, article=p.article, started_on=p.started_on.isoformat(),
        due_at=p.due_at, warn_at=p.warn_at, status="open", extensions=0, escalates=p.escalates,
        provisional=p.provisional))


@apply.register
def _(p: dl.DeadlineWarningIssued, env: Envelope, tx: Connection) -> None:
    _set(env, tx, warned_at=env.occurred_at)


@apply.register
def _(p: dl.DeadlineMet, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="met", closed_at=p.met_at)


@apply.register
def _(p: dl.DeadlineExtended, env: Envelope, tx: Connection) -> None:
    _set(env, tx, due_at=p.due_at, warn_at=p.warn_at, warned_at=None,
         extensions=p.extensions_granted, provisional=p.provisional)


@apply.register
def _(p: dl.DeadlineRescheduled, env: Envelope, tx: Connection) -> None:
    _set(env, tx, due_at=p.due_at, warn_at=None, warned_at=None, provisional=p.provisional)


@apply.register
def _(p: dl.DeadlineBreached, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="breached", closed_at=p.due_at)


@apply.register
def _(p: dl.DeadlineCancelled, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="cancelled", closed_at=env.occurred_at)


def _action(env: Envelope, tx: Connection, action: str, party: str, article: str, due_at=None) -> None:
    tx.execute(insert(supervision_actions), dict(
        event_id=str(env.event_id), action=action, party=party, deadline_id=env.aggregate_id,
        article=article, due_at=due_at, recorded_at=env.recorded_at))


@apply.register
def _(p: dl.RectificationOrdered, env: Envelope, tx: Connection) -> None:
    _action(env, tx, "rectification-ordered", p.party, p.article, p.due_at)


@apply.register
def _(p: dl.CriticismCirculated, env: Envelope, tx: Connection) -> None:
    _action(env, tx, "criticism-circulated", p.party, p.article)
