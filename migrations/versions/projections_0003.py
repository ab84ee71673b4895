"""Department scorecards (issue #13): the facts each department is scored on.

A database upgraded from an earlier release starts with no facts: `govshare rebuild` fills the
table from the log (the projection is derived from the log only).

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


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
