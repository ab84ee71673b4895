"""Department scorecards (issue #13): the facts each department is scored on.

A database upgraded from an earlier release gets the facts its views already hold: each settled
deadline (met at its closing instant, breached at its due instant) with the event that settled
it, and each order, criticism and usage violation of the supervision view; the same rows the
projection writes, so the upgraded scorecards equal a rebuild's.

Revision ID: projections_0003
Revises: projections_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0003"
down_revision = "projections_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scorecard_facts",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("fact", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64)),
        sa.Column("subject_id", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("quarter", sa.String(7), nullable=False),
        sa.Column("year", sa.String(4), nullable=False),
    )
    for period in ("month", "quarter", "year"):
        op.create_index(f"ix_scorecard_facts_department_{period}", "scorecard_facts", ["department", period])
    _backfill(op.get_bind())


# The columns read, as they stood at projections_0002 (not the models, which may change later).
_deadlines = sa.table("deadlines", sa.column("deadline_id", sa.String), sa.column("party", sa.String),
                      sa.column("kind", sa.String), sa.column("closed_at", sa.DateTime(timezone=True)))
_events = sa.table("event_log", sa.column("event_id", sa.String), sa.column("event_type", sa.String),
                   sa.column("aggregate_id", sa.String))
_actions = sa.table("supervision_actions", sa.column("event_id", sa.String), sa.column("action", sa.String),
                    sa.column("party", sa.String), sa.column("deadline_id", sa.String),
                    sa.column("recorded_at", sa.DateTime(timezone=True)))
SETTLED = {"DeadlineMet": "met", "DeadlineBreached": "breached"}
SANCTIONED = {"rectification-ordered": "rectification", "criticism-circulated": "criticism",
              "usage-violation": "usage-violation"}


def _labels(party: str, at) -> dict:
    from policies.scorecard import jurisdiction_of
    from projections.scorecards import period_labels
    return period_labels(at, jurisdiction_of(party).timezone)


def _backfill(bind) -> None:
    settled = bind.execute(
        sa.select(_events.c.event_id, _events.c.event_type, _deadlines.c.deadline_id, _deadlines.c.party,
                  _deadlines.c.kind, _deadlines.c.closed_at)
        .join(_deadlines, _deadlines.c.deadline_id == _events.c.aggregate_id)
        .where(_events.c.event_type.in_(list(SETTLED)), _deadlines.c.closed_at.is_not(None)))
    rows = [dict(event_id=r.event_id, department=r.party, fact=SETTLED[r.event_type], kind=r.kind,
                 subject_id=r.deadline_id, at=r.closed_at, **_labels(r.party, r.closed_at))
            for r in settled]
    sanctions = bind.execute(sa.select(_actions).where(_actions.c.action.in_(list(SANCTIONED))))
    rows += [dict(event_id=r.event_id, department=r.party, fact=SANCTIONED[r.action], kind=None,
                  subject_id=r.deadline_id, at=r.recorded_at, **_labels(r.party, r.recorded_at))
             for r in sanctions]
    if rows:
        bind.execute(sa.table("scorecard_facts", *(sa.column(c) for c in rows[0])).insert(), rows)


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
