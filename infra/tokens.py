"""API tokens: who an HTTP caller is. A token is shown once when issued; only its SHA-256 is
kept, with the department it speaks for and its scope:

- read: the department's own rows (a data authority's: its whole jurisdiction);
- write: the same, and it may submit events its own department acts in;
- audit: every row and the trail, read-only.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, insert, select, update

from infra.api_store import api_tokens

SCOPES = ("read", "write", "audit")
PREFIX = "gvs_"  # recognisable in a leaked config file or a secret scanner's rules


@dataclass(frozen=True)
class Token:
    id: int
    department: str
    scope: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(engine: Engine, department: str, scope: str) -> tuple[int, str]:
    if scope not in SCOPES:
        raise ValueError(f"scope {scope!r}: use one of {', '.join(SCOPES)}")
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        found = conn.execute(insert(api_tokens).values(
            token_sha256=digest(token), department=department, scope=scope,
            issued_at=datetime.now(timezone.utc)))
    return found.inserted_primary_key[0], token


def listed(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(api_tokens.c.id, api_tokens.c.department, api_tokens.c.scope,
                   api_tokens.c.issued_at, api_tokens.c.revoked_at).order_by(api_tokens.c.id))]


def revoke(engine: Engine, token_id: int) -> bool:
    with engine.begin() as conn:
        done = conn.execute(update(api_tokens).where(api_tokens.c.id == token_id,
                                                     api_tokens.c.revoked_at.is_(None))
                            .values(revoked_at=datetime.now(timezone.utc)))
    return done.rowcount == 1


def holder(engine: Engine, token: str) -> Token | None:
    """The live token's holder, or None (unknown or revoked)."""
    with engine.connect() as conn:
        row = conn.execute(select(api_tokens).where(api_tokens.c.token_sha256 == digest(token),
                                                    api_tokens.c.revoked_at.is_(None))).first()
    return Token(row.id, row.department, row.scope) if row else None
