"""Webhook subscriptions: a department registers a URL and the kinds of fact it wants (its
verdicts, its deadlines' warnings and breaches); the notifier (web/notifier.py) POSTs each as a
CloudEvent and records every attempt, which GET .../deliveries shows.

A subscription is its department's own: a read or write token of that department makes, lists,
deletes and reads it; an audit token, which speaks for no department's systems, does none of it.

Each delivery is signed as Standard Webhooks signs (web/signing.py) with the subscription's
secret, shown once: in the answer that makes the subscription, and in the one that replaces the
secret (POST .../secret), after which the old secret signs beside the new one for
GOVSHARE_WEBHOOK_SECRET_GRACE seconds, then no more."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from infra import output
from infra.api_store import api_attempts, api_deliveries, api_subscriptions, api_webhook_secrets
from web import facts, signing
from web.callers import Caller, Refused, caller
from web.problems import responses

router = APIRouter(prefix="/v1/subscriptions", tags=["webhooks"],
                   responses=responses(403, 404, 422, described={
                       403: "audit-cannot-subscribe: an audit token has no webhooks",
                       404: "no-such-subscription: none of the caller's department by that id"}))

Kind = Literal["verdicts", "deadline-warnings", "deadline-breaches"]
assert set(Kind.__args__) == set(facts.KINDS)  # one list of kinds: web/facts.py
URL_SCHEMES = ("http", "https")


class Subscribe(BaseModel):
    url: str = Field(..., max_length=2000, description="http(s) URL the CloudEvents are POSTed to")
    kinds: list[Kind] = Field(list(facts.KINDS), min_length=1,
                              description="what to receive; all three when not given")


def subscriber(who: Caller = Depends(caller)) -> Caller:
    if who.scope == "audit":
        raise Refused(403, "audit-cannot-subscribe", "webhooks are a department's own: use a read or "
                      "write token of the department that receives them, not an audit token")
    return who


def _checked_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in URL_SCHEMES or not parts.hostname:
        raise Refused(422, "webhook-url-not-http", f"a webhook URL is http:// or https:// with a host; "
                      f"{url[:200]!r} is not")
    return url.strip()


def _shown(row) -> dict:
    return {"id": row.id, "department": row.department, "url": row.url, "kinds": json.loads(row.kinds),
            "created_at": output.jsonable(row.created_at)}


def _own(request: Request, subscription_id: int, who: Caller):
    with request.app.state.api_engine.connect() as conn:
        row = conn.execute(select(api_subscriptions).where(
            api_subscriptions.c.id == subscription_id, api_subscriptions.c.active,
            api_subscriptions.c.department == who.department)).first()
    if row is None:  # another department's is not named as existing
        raise Refused(404, "no-such-subscription", f"{who.department} has no subscription {subscription_id}")
    return row


@router.post("", status_code=201, summary="register a webhook for the caller's department; its "
             "signing secret is in this answer only")
def subscribe(request: Request, body: Subscribe, who: Caller = Depends(subscriber)):
    url = _checked_url(body.url)
    kinds = [k for k in facts.KINDS if k in body.kinds]
    # From now on: a new subscription is not handed the department's whole history.
    with request.app.state.projections().connect() as read:
        start = facts.end(read)
    at, secret = request.app.state.now(), signing.new_secret()
    with request.app.state.api_engine.begin() as conn:
        new_id = conn.execute(insert(api_subscriptions).values(
            department=who.department, url=url, kinds=json.dumps(kinds), active=True,
            position=json.dumps({"trail": start}), created_at=at)).inserted_primary_key[0]
        conn.execute(insert(api_webhook_secrets).values(subscription_id=new_id, secret=secret, created_at=at))
        row = conn.execute(select(api_subscriptions).where(api_subscriptions.c.id == new_id)).one()
    return {**_shown(row), "secret": secret}


@router.post("/{subscription_id}/secret", summary="a new signing secret; the old one keeps signing "
             "beside it for the grace period (GOVSHARE_WEBHOOK_SECRET_GRACE)")
def rotate(request: Request, subscription_id: int, who: Caller = Depends(subscriber)):
    _own(request, subscription_id, who)
    at, secret = request.app.state.now(), signing.new_secret()
    until = at + timedelta(seconds=request.app.state.settings.webhook_secret_grace)
    with request.app.state.api_engine.begin() as conn:
        # Every secret still signing without an end gets one; one already ending keeps its own.
        replaced = conn.execute(update(api_webhook_secrets).where(
            api_webhook_secrets.c.subscription_id == subscription_id,
            api_webhook_secrets.c.expires_at.is_(None)).values(expires_at=until)).rowcount
        conn.execute(insert(api_webhook_secrets).values(subscription_id=subscription_id, secret=secret,
                                                        created_at=at))
    # When the replaced secret stops signing (None: the subscription had none, made before
    # deliveries were signed).
    return {"id": subscription_id, "secret": secret,
            "previous_expires_at": output.jsonable(until) if replaced else None}


@router.get("", summary="the caller's department's webhooks")
def listed(request: Request, who: Caller = Depends(subscriber)):
    with request.app.state.api_engine.connect() as conn:
        rows = conn.execute(select(api_subscriptions).where(
            api_subscriptions.c.department == who.department, api_subscriptions.c.active)
            .order_by(api_subscriptions.c.id)).all()
    return {"items": [_shown(r) for r in rows], "next_cursor": None}


@router.delete("/{subscription_id}", status_code=204, summary="stop a webhook (its deliveries stop too)")
def unsubscribe(request: Request, subscription_id: int, who: Caller = Depends(subscriber)):
    _own(request, subscription_id, who)
    with request.app.state.api_engine.begin() as conn:
        # Kept, inactive: what was delivered stays on record.
        conn.execute(update(api_subscriptions).where(api_subscriptions.c.id == subscription_id)
                     .values(active=False))
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", summary="each delivery with its attempts")
def deliveries(request: Request, subscription_id: int,
               status: Literal["pending", "delivered", "failed"] | None = None,
               limit: int = Query(100, ge=1, le=1000), after: int | None = Query(None, description="next_after of the previous page"),
               who: Caller = Depends(subscriber)):
    _own(request, subscription_id, who)
    q = select(api_deliveries).where(api_deliveries.c.subscription_id == subscription_id)
    if status:
        q = q.where(api_deliveries.c.status == status)
    if after is not None:
        q = q.where(api_deliveries.c.id > after)
    with request.app.state.api_engine.connect() as conn:
        rows = conn.execute(q.order_by(api_deliveries.c.id).limit(limit)).all()
        tries = conn.execute(select(api_attempts).where(api_attempts.c.delivery_id.in_([r.id for r in rows]))
                             .order_by(api_attempts.c.delivery_id, api_attempts.c.attempt)).all()
    by_delivery: dict[int, list] = {}
    for t in tries:
        by_delivery.setdefault(t.delivery_id, []).append(
            {"attempt": t.attempt, "at": t.attempted_at, "status_code": t.status_code, "error": t.error,
             "next_attempt_at": t.next_attempt_at})
    items = []
    for r in rows:
        event = json.loads(r.cloudevent)
        items.append({"id": r.id, "event_id": r.event_id, "kind": r.kind, "type": event["type"],
                      "status": r.status, "attempts": by_delivery.get(r.id, []),
                      "next_attempt_at": r.next_attempt_at if r.status == "pending" else None,
                      "created_at": r.created_at, "cloudevent": event})
    return {"items": output.jsonable(items), "next_after": rows[-1].id if len(rows) == limit else None}
