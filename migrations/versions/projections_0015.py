"""Open data (Ningbo Art. 25, 32): applications for conditionally open data, and the security
risk assessment of opening an entry.

Nothing to fill in: neither was recorded before the events existed.

Revision ID: projections_0015
Revises: projections_0014
"""
import sqlalchemy as sa
from alembic import op

revision = "projections_0015"
down_revision = "projections_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("catalog_entries", sa.Column("open_risk_assessment", sa.String(200)))
    op.create_table(
        "open_data_applications",
        sa.Column("application_id", sa.String(200), primary_key=True),
        sa.Column("entry_id", sa.String(200), nullable=False),
        sa.Column("applicant", sa.String(200), nullable=False),
        sa.Column("applicant_kind", sa.String(16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provider_agrees", sa.Boolean()),
        sa.Column("agreement", sa.String(200)),
        sa.Column("reasons", sa.Text()),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_open_data_applications_entry_id", "open_data_applications", ["entry_id"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
