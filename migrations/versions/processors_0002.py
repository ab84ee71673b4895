"""What this release added to the processors' state: an entry's change obligations beside it,
a submitted revision's items for the grant keeper, and grants found by their entry.

Revision ID: processors_0002
Revises: processors_baseline
"""
import sqlalchemy as sa
from alembic import op

revision = "processors_0002"
down_revision = "processors_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty at first: the validator moves a stored entry's obligations here the next time an
    # event concerns the entry (processors/validator.py, _with_obligations).
    op.create_table(
        "proc_obligations",
        sa.Column("entry_id", sa.String(200), primary_key=True),
        sa.Column("obligation_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_proc_obligations_open", "proc_obligations", ["open"])
    op.create_table(
        "proc_grant_revisions",
        sa.Column("revision_id", sa.String(200), primary_key=True),
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("item_codes", sa.Text(), nullable=False),
    )
    op.create_index("ix_proc_grants_entry_id", "proc_grants", ["entry_id"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
