"""The projections tables as the previous release (a9b27a3) created them.

A database that release made is stamped at this revision and upgraded from here; created from
nothing it is exactly that release's schema (triggers and indexes included).

Revision ID: projections_baseline
Revises:
"""
from alembic import op

from migrations.baseline import projections as released

revision = "projections_baseline"
down_revision = None
branch_labels = ("projections",)
depends_on = None


def upgrade() -> None:
    released.metadata.create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
