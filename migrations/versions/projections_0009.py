"""Aggregation and data freshness (issue #25): an entry keeps where and when its data was
aggregated to the platform, and when it was last refreshed there.

Nothing to fill in: no aggregation was recorded before the events existed.

Revision ID: projections_0009
Revises: projections_0008
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0009"
down_revision = "projections_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("catalog_entries", sa.Column("aggregated_to", sa.String(200)))
    op.add_column("catalog_entries", sa.Column("aggregated_at", sa.DateTime(timezone=True)))
    op.add_column("catalog_entries", sa.Column("refreshed_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
