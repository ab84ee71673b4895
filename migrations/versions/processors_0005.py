"""The deadline engine's copy of each entry's provider and update cycle (issue #25: data
freshness, conflicting values). Empty when created: entries registered before it are learnt at
their next revision.

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
        "sched_entries",
        sa.Column("entry_id", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("update_frequency", sa.String(100), nullable=False),
        sa.Column("pending_revision_id", sa.String(200)),
        sa.Column("pending_frequency", sa.String(100)),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
