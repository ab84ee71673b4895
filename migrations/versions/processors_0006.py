"""The grant keeper's entrusted contractors (issue #25: entrusted third parties). Empty when
created: no entrustment was approved before the event existed.

Revision ID: processors_0006
Revises: processors_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "processors_0006"
down_revision = "processors_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proc_entrustments",
        sa.Column("entrustment_id", sa.String(200), primary_key=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("contractor", sa.String(200), nullable=False),
        sa.Column("valid_until", sa.String(10), nullable=False),
    )
    op.create_index("ix_proc_entrustments_department", "proc_entrustments", ["department"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
