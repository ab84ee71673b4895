"""Security incidents as their departments reported them (SecurityIncidentReported, Ningbo
Art. 31; GD-2018 Art. 27).

Nothing to fill in: no incident was reported before the event existed.

Revision ID: projections_0007
Revises: projections_0006
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0007"
down_revision = "projections_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.String(200), primary_key=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.Column("remedies", sa.Text(), nullable=False),
        sa.Column("users_informed", sa.Boolean(), nullable=False),
        sa.Column("reported_to", sa.String(200), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
