"""New information systems' projects (GD-2018 Art. 11; Ningbo Art. 9, 11), with the catalog
entries of their data and the data authority's review.

Nothing to fill in: no project was submitted before the events existed.

Revision ID: projections_0014
Revises: projections_0013
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0014"
down_revision = "projections_0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_projects",
        sa.Column("project_id", sa.String(200), primary_key=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("system", sa.String(200), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("opinion", sa.Text()),
        sa.Column("reviewed_by", sa.String(100)),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_system_projects_department", "system_projects", ["department"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
