"""The deadline engine's copy of the department directory (issue #26: one directory). Empty
when created: the engine fills it from the directory govshare started with on its next start,
and its new subscription to the directory's events reads them from the beginning of the log.

Revision ID: processors_0004
Revises: processors_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "processors_0004"
down_revision = "processors_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sched_departments",
        sa.Column("department_id", sa.String(100), primary_key=True),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("authority", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_sched_departments_policy_id", "sched_departments", ["policy_id"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
