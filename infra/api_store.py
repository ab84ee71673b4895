"""The API's own tables: API tokens, the answers kept for idempotent retries, webhook
subscriptions, their signing secrets and their deliveries. They live in the API's database (api.db beside the
projections on SQLite, the same PostgreSQL database otherwise): the projections stay the
projector's alone to write. Migrated by the `api` branch of migrations/ (govshare migrate)."""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()


def _when(name: str, **kw) -> Column:
    return Column(name, DateTime(timezone=True), **kw)


api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Only the SHA-256 of a token is kept: the database read does not give one away.
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("department", String(100), nullable=False),
    Column("scope", String(16), nullable=False),  # read | write | audit
    _when("issued_at", nullable=False),
    _when("revoked_at"),
)

api_answers = Table(
    "api_answers", metadata,
    # Who asked (the token's department) and the key: "key:<Idempotency-Key>" for a whole
    # request, "event:<event id>" for one event's verdict.
    Column("department", String(100), primary_key=True),
    Column("key", String(300), primary_key=True),
    Column("request_sha256", String(64), nullable=False),  # the body, so a reused key is caught
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),  # JSON
    _when("recorded_at", nullable=False),
)

api_subscriptions = Table(
    "api_subscriptions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("department", String(100), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("kinds", Text, nullable=False),  # JSON list of verdicts | deadline-warnings | deadline-breaches
    Column("active", Boolean, nullable=False),
    # Where the notifier's scan of the projections resumes for this subscription (JSON).
    Column("position", Text, nullable=False),
    _when("created_at", nullable=False),
)

api_webhook_secrets = Table(
    "api_webhook_secrets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, nullable=False, index=True),
    # whsec_<base64 of 32 random bytes> (Standard Webhooks). Kept as it is, unlike a token's
    # digest: signing a delivery takes the key itself. Shown to the department once, when made.
    Column("secret", String(100), nullable=False),
    _when("created_at", nullable=False),
    # When it stops signing: None while it is the subscription's newest; when a new one replaces
    # it, the rotation's time plus GOVSHARE_WEBHOOK_SECRET_GRACE (both sign until then).
    _when("expires_at"),
)

api_deliveries = Table(
    "api_deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, nullable=False, index=True),
    Column("event_id", String(300), nullable=False),  # the CloudEvent's id
    Column("kind", String(16), nullable=False),  # verdict | warning | breach
    Column("cloudevent", Text, nullable=False),  # JSON, structured mode
    Column("status", String(16), nullable=False, index=True),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    _when("next_attempt_at", nullable=False),
    _when("created_at", nullable=False),
    UniqueConstraint("subscription_id", "event_id", name="uq_api_deliveries_event"),
)

api_attempts = Table(
    "api_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer),  # None: no HTTP answer (refused, timed out)
    Column("error", Text),
    _when("attempted_at", nullable=False),
    # When the delivery is tried again after this attempt; None: delivered, or given up.
    _when("next_attempt_at"),
)
