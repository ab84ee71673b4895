"""Requests for data outside the catalog (GD-2008 Art. 21-22), to the department named as
holding it, with its answer.

Nothing to fill in: no such request was recorded before the events existed.

Revision ID: projections_0011
Revises: projections_0010
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0011"
down_revision = "projections_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uncatalogued_requests",
        sa.Column("request_id", sa.String(200), primary_key=True),
        sa.Column("requester", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text()),
        sa.Column("entry_id", sa.String(200)),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_uncatalogued_requests_requester", "uncatalogued_requests", ["requester"])
    op.create_index("ix_uncatalogued_requests_holder", "uncatalogued_requests", ["holder"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
