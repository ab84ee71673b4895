"""A refusal is listed under the department whose key signed the refused event (issue #26): the
department the event claimed, where that was another, gets a column of its own.

Nothing to fill in: a refusal recorded before named no signer in its sealed record, so it stays
listed under the department its event named, and claimed none other (projections/sealed.py
derives the same from its record).

Revision ID: projections_0005
Revises: projections_0004
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0005"
down_revision = "projections_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rejections", sa.Column("claimed_department", sa.String(100)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
