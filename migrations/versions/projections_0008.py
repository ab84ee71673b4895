"""Cross-border provision (Ningbo Art. 32): an access says whether the data went abroad
(DataAccessed version 3), and a request keeps the security assessment that allows it
(CrossBorderAssessed).

Nothing to fill in: an access recorded before version 3 did not say (null), and no assessment
was recorded before the event existed.

Revision ID: projections_0008
Revises: projections_0007
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0008"
down_revision = "projections_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accesses", sa.Column("abroad", sa.Boolean()))
    op.add_column("share_requests", sa.Column("cross_border_assessment", sa.String(200)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
