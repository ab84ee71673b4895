"""The leadership group decides a problem escalated to it (LeadershipDecided, Ningbo Art. 18;
GD-2008 Art. 22): the problem list keeps each decision beside the problem.

Nothing to fill in: no problem was decided before the event existed.

Revision ID: projections_0006
Revises: projections_0005
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0006"
down_revision = "projections_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("problems", sa.Column("outcome", sa.String(32)))
    op.add_column("problems", sa.Column("decided_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
