"""The deadline engine's copy of each entry's update cycle (issue #25: data freshness). Empty
when created: entries registered before it learn their cycle at their next revision.

Revision ID: processors_0005
Revises: processors_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "processors_0005"
down_revision = "processors_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sched_entry_cycles",
        sa.Column("entry_id", sa.String(200), primary_key=True),
        sa.Column("update_frequency", sa.String(100), nullable=False),
        sa.Column("pending_revision_id", sa.String(200)),
        sa.Column("pending_frequency", sa.String(100)),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
