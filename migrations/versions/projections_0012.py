"""Conflicting values between two providers' entries (GD-2018 Art. 13).

Nothing to fill in: no conflict was reported before the events existed.

Revision ID: projections_0012
Revises: projections_0011
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0012"
down_revision = "projections_0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_conflicts",
        sa.Column("conflict_id", sa.String(200), primary_key=True),
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("other_entry_id", sa.String(200), nullable=False),
        sa.Column("reported_by", sa.String(100), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.Text()),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
