"""Webhook deliveries are signed (Standard Webhooks): each subscription's secrets, the newest and
any replaced one still in its grace period (infra/api_store.api_webhook_secrets). Subscriptions
made before have none, and their deliveries go unsigned until the department asks for one
(POST /v1/subscriptions/{id}/secret): a secret made here could never be shown to it.

Revision ID: api_0003
Revises: api_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "api_0003"
down_revision = "api_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_webhook_secrets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer(), nullable=False, index=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
