"""The HTTP API's own tables (infra/api_store.py): tokens, idempotent answers, webhook subscriptions,
deliveries and their attempts. A branch of its own: the API's database may be a file apart.

Revision ID: api_baseline
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "api_baseline"
down_revision = None
branch_labels = ("api",)
depends_on = None


def _when(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("department", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        _when("issued_at", nullable=False),
        _when("revoked_at"),
    )
    op.create_table(
        "api_answers",
        sa.Column("department", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        _when("recorded_at", nullable=False),
    )
    op.create_table(
        "api_subscriptions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("department", sa.String(100), nullable=False, index=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("kinds", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        _when("created_at", nullable=False),
    )
    op.create_table(
        "api_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subscription_id", sa.Integer(), nullable=False, index=True),
        sa.Column("event_id", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cloudevent", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at", nullable=False),
        _when("created_at", nullable=False),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_api_deliveries_event"),
    )
    op.create_table(
        "api_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer(), nullable=False, index=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("error", sa.Text()),
        _when("attempted_at", nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
