"""The method by the kind of system (Ningbo Art. 19): a request keeps the assessment that lets
its data land at the user by exchange (ExchangeAssessed).

Nothing to fill in: no assessment was recorded before the event existed.

Revision ID: projections_0013
Revises: projections_0012
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0013"
down_revision = "projections_0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("share_requests", sa.Column("exchange_assessment", sa.String(200)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
