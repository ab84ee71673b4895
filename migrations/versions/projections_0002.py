"""What this release added to the read models: provisional deadlines, an access's method and
scenario, and who attempted a refused event.

Revision ID: projections_0002
Revises: projections_baseline
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0002"
down_revision = "projections_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A deadline projected by the previous release was counted on the official schedule only:
    # none of them is provisional.
    op.add_column("deadlines", sa.Column("provisional", sa.Boolean(), nullable=False,
                                         server_default=sa.false()))
    # Null for an access recorded before, as for a version-1 DataAccessed, which did not state them.
    op.add_column("accesses", sa.Column("method", sa.String(32)))
    op.add_column("accesses", sa.Column("scenario", sa.Text()))
    # Null for a rejection recorded before: its sealed EventRejected did not name who tried.
    op.add_column("rejections", sa.Column("attempted_by_department", sa.String(100)))
    op.add_column("rejections", sa.Column("attempted_by_person", sa.String(200)))
    op.add_column("rejections", sa.Column("attempted_by_role", sa.String(32)))
    op.add_column("rejections", sa.Column("attempted_key_id", sa.String(100)))
    op.create_index("ix_rejections_attempted_by_department", "rejections", ["attempted_by_department"])
    op.create_index("ix_rejections_attempted_by_person", "rejections", ["attempted_by_person"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
