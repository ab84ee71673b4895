"""Entrusted third parties (Hebei: 委托第三方…应当经过严格的批准程序): the contractors the data
authorities approved departments to entrust with shared data.

Nothing to fill in: no entrustment was approved before the event existed.

Revision ID: projections_0010
Revises: projections_0009
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0010"
down_revision = "projections_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entrustments",
        sa.Column("entrustment_id", sa.String(200), primary_key=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("contractor", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("approved_by", sa.String(100), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_entrustments_department", "entrustments", ["department"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
