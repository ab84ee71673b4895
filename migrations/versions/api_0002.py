"""Webhook attempts say when the delivery is tried next (GET /v1/subscriptions/{id}/deliveries):
the backoff in force when it failed, kept rather than recomputed from settings that may change.

Revision ID: api_0002
Revises: api_baseline
"""
import sqlalchemy as sa
from alembic import op

revision = "api_0002"
down_revision = "api_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_attempts") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
