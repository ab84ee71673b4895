"""POST /v1/events: events in the same JSON form as `govshare submit` (one object, or an array
of them), published and answered with each one's verdict; GET /v1/events/{id}: the verdict of
one submitted later, when it was not in within the wait.

A retry gets the first answer again, from the API's database: the whole answer by the
Idempotency-Key header, or an event's own verdict by its id (the "id" field, which a retry must
reuse anyway). Nothing is published twice for the same key or id."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from events.codec import event_identity
from events.signing import Keystore
from events.topics import Topics
from infra.submit import submit_lines
from projections.tables import dead_letters, event_log, rejections
from web.callers import Caller, Refused, caller, writer
from web.store import api_answers

router = APIRouter(prefix="/v1", tags=["write"])


class Acting(BaseModel):
    department: str = Field(description="the department acting (this token's)")
    person: str = Field(description="the person acting, as the department's system names them")
    role: str = Field(description="the role it acts in: PROVIDER, USER, DATA_AUTHORITY, LEADERSHIP_GROUP, PLATFORM_ADMIN")


class Signature(BaseModel):
    key_id: str = Field(description="the department key's id (govshare keygen)")
    value: str = Field(description="base64 Ed25519 signature over the event's signing base (events/signing.py)")


class EventLine(BaseModel):
    """One event as a line of `govshare submit` holds it (contract/asyncapi.json has every
    payload's schema); `govshare sign` adds the signature."""
    type: str = Field(description="the event type, e.g. EntryRegistered")
    aggregate_id: str
    sequence: int = Field(ge=1, description="the event's position in its aggregate")
    actor: Acting
    payload: dict[str, Any] = Field(description="the event type's payload")
    id: str | None = Field(None, description="the publisher's id for it; a retry must reuse it")
    policy: str | None = Field(None, description="the policy profile (default: the department's jurisdiction)")
    occurred_at: str | None = Field(None, description="ISO 8601 instant with its zone")
    correlation_id: str | None = None
    causation_id: str | None = None
    source: str | None = None
    signature: Signature | None = Field(None, description="required: an unsigned event is refused")


class Verdict(BaseModel):
    line: int
    status: str = Field(description="accepted | rejected | dead-lettered | invalid | refused | pending")
    event_id: str | None = None
    type: str | None = None
    aggregate_id: str | None = None
    sequence: int | None = None
    rule: str | None = Field(None, description="the rule broken (rejected, refused)")
    article: str | None = Field(None, description="the article the rule cites")
    error: str | None = Field(None, description="why, in one sentence")
    poll: str | None = Field(None, description="where to ask for a verdict not in yet")


class Verdicts(BaseModel):
    results: list[Verdict]


_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [{"$ref": "#/components/schemas/EventLine"},
              {"type": "array", "items": {"$ref": "#/components/schemas/EventLine"}}]}}}}}

ACTOR_NOT_CALLER = "actor-not-caller"


@router.post("/events", summary="submit events; the verdict of each", openapi_extra=_BODY,
             responses={200: {"model": Verdicts, "description": "every verdict"},
                        202: {"model": Verdicts, "description": "some verdicts not in yet: poll each item's `poll`"},
                        403: {"model": Verdicts, "description": "every event acts for another department"}})
def submit(request: Request, body: Any = Body(..., description="one event or an array of them, "
                                                  "as a line of `govshare submit` holds"),
           idempotency_key: str | None = Header(None, max_length=200), who: Caller = Depends(writer)):
    app = request.app.state
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    if idempotency_key:
        kept = _kept(app.api_engine, who.department, f"key:{idempotency_key}")
        if kept is not None:
            if kept.request_sha256 != digest:
                raise Refused(422, "idempotency-key-reused", f"Idempotency-Key {idempotency_key} was "
                              f"sent before with another body: use a new key for new events")
            return _answer(_refreshed(request, json.loads(kept.body), who))
    events = body if isinstance(body, list) else [body]
    if not events:
        raise Refused(400, "no-events", "the body holds no event: send one JSON object or an array")
    results: list[dict[str, Any] | None] = [None] * len(events)
    fresh: list[tuple[int, str]] = []  # (index in events, its key or "")
    for i, event in enumerate(events):
        key = _event_key(event)
        acting = event.get("actor") if isinstance(event, dict) else None
        department = acting.get("department") if isinstance(acting, dict) else None
        if department is not None and department != who.department:
            results[i] = {"status": "refused", "rule": ACTOR_NOT_CALLER,
                          "error": f"the event acts for {department}; this token speaks for {who.department}"}
            continue
        kept = _kept(app.api_engine, who.department, key) if key else None
        if kept is not None:
            results[i] = _refreshed_one(request, json.loads(kept.body), who)
            continue
        fresh.append((i, key))
    if fresh:
        lines = [json.dumps(events[i], ensure_ascii=False) for i, _ in fresh]
        # Passed on as signed by the department's own system: the API holds no department's
        # key and signs nothing (an unsigned event is refused with submission-unsigned).
        answers = submit_lines(lines, app.kafka(), Topics(app.settings.topic_prefix),
                               app.settings.api_verdict_wait, keys=Keystore())
        for (i, key), found in zip(fresh, answers):
            results[i] = _as_answer(found)
            if key:
                _keep(app.api_engine, who.department, key, "", 200, results[i])
    for number, result in enumerate(results, start=1):
        result["line"] = number
    answer = {"results": results}
    status = _status(results)
    if idempotency_key:
        _keep(app.api_engine, who.department, f"key:{idempotency_key}", digest, status, answer)
    return _answer(answer)


@router.get("/events/{event_id}", summary="the verdict of one submitted event")
def verdict(request: Request, event_id: str, who: Caller = Depends(caller)):
    found = _looked_up(request, event_id, who)
    if found is None:
        kept = _kept(request.app.state.api_engine, who.department, f"event:{event_id}")
        if kept is None:
            raise Refused(404, "no-such-event", f"no event {event_id} was submitted by {who.department}")
        found = {**json.loads(kept.body), "status": "pending"}
    return _answer({"results": [found]})


def _as_answer(found: dict[str, Any]) -> dict[str, Any]:
    """submit_lines' result as the API gives it: `no-verdict` is `pending`, with where to poll."""
    found = {k: v for k, v in found.items() if k != "line"}
    if found["status"] == "no-verdict":
        found.update(status="pending", poll=f"/v1/events/{found['event_id']}")
    return found


def _status(results: list[dict[str, Any]]) -> int:
    if all(r["status"] == "refused" for r in results):
        return 403
    return 202 if any(r["status"] == "pending" for r in results) else 200


def _answer(answer: dict[str, Any]) -> JSONResponse:
    status = _status(answer["results"])
    pending = [r["poll"] for r in answer["results"] if r["status"] == "pending"]
    headers = {"Location": pending[0]} if pending else {}
    return JSONResponse(answer, status_code=status, headers=headers)


def _event_key(event: Any) -> str:
    """The key of an event's verdict: its event id, as the pipeline derives it from the "id"
    the publisher gave and the source (events.codec.event_identity); "" when it gave none."""
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return ""
    acting = event.get("actor") if isinstance(event.get("actor"), dict) else {}
    source = event.get("source") or f"/departments/{acting.get('department')}"
    try:
        return f"event:{event_identity(event['id'], str(source))[0]}"
    except (ValueError, TypeError):
        return ""  # submit_lines answers why the id is wrong


def _refreshed(request: Request, answer: dict[str, Any], who: Caller) -> dict[str, Any]:
    return {**answer, "results": [_refreshed_one(request, r, who) for r in answer["results"]]}


def _refreshed_one(request: Request, result: dict[str, Any], who: Caller) -> dict[str, Any]:
    """A kept answer still pending is looked up again: the verdict may have come since."""
    if result.get("status") != "pending":
        return result
    found = _looked_up(request, result["event_id"], who)
    return {**result, **found, "poll": None} if found else result


def _looked_up(request: Request, event_id: str, who: Caller) -> dict[str, Any] | None:
    """The verdict of `event_id` in the projections, if the caller may see it."""
    engine = request.app.state.projections()
    seen = lambda department: who.parties is None or department in who.parties  # noqa: E731
    with engine.connect() as conn:
        refused = conn.execute(select(rejections).where(rejections.c.rejected_event_id == event_id)).first()
        if refused is not None and seen(refused.attempted_by_department):
            return rejected_verdict(refused)
        done = conn.execute(select(event_log).where(event_log.c.event_id == event_id)).first()
        if done is not None and seen(done.actor_department):
            return accepted_verdict(done)
        dead = conn.execute(select(dead_letters).where(dead_letters.c.event_id == event_id)).first()
        if dead is not None and who.parties is None:
            return {"event_id": event_id, "status": "dead-lettered", "error": dead.reason}
    return None


def rejected_verdict(refused) -> dict[str, Any]:
    """A `rejections` row as a verdict: here, and in the webhooks (web/notifier.py)."""
    return {"event_id": refused.rejected_event_id, "type": refused.rejected_event_type,
            "aggregate_id": refused.aggregate_id, "status": "rejected", "rule": refused.rule,
            "article": refused.article, "error": refused.message}


def accepted_verdict(done) -> dict[str, Any]:
    """An `event_log` row as a verdict: here, and in the webhooks (web/notifier.py)."""
    return {"event_id": done.event_id, "type": done.event_type, "aggregate_id": done.aggregate_id,
            "sequence": done.sequence, "status": "accepted"}


def _kept(engine, department: str, key: str):
    with engine.connect() as conn:
        return conn.execute(select(api_answers).where(api_answers.c.department == department,
                                                      api_answers.c.key == key)).first()


def _keep(engine, department: str, key: str, digest: str, status: int, body: dict[str, Any]) -> None:
    values = dict(request_sha256=digest, status_code=status, body=json.dumps(body, ensure_ascii=False),
                  recorded_at=datetime.now(timezone.utc))
    with engine.begin() as conn:
        mine = (api_answers.c.department == department) & (api_answers.c.key == key)
        if conn.execute(select(api_answers.c.key).where(mine)).first() is None:
            conn.execute(insert(api_answers).values(department=department, key=key, **values))
        else:
            conn.execute(update(api_answers).where(mine).values(**values))
