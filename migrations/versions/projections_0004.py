"""The department directory's read model (issue #26: one directory): each department's name,
jurisdiction and roles as the directory's events made them. Empty when created: the projector
fills it on its next start from the directory events the log already holds.

Revision ID: projections_0004
Revises: projections_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0004"
down_revision = "projections_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("department_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("authority", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
