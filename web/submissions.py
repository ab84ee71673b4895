"""POST /v1/events: events in the same JSON form as `govshare submit` (one object, or an array
of them), published and answered with each one's verdict; GET /v1/events/{id}: the verdict of
one submitted later, when it was not in within the wait.

A retry gets the first answer again, from the API's database: the whole answer by the
Idempotency-Key header, or an event's own verdict by its id (the "id" field, which a retry must
reuse anyway). Nothing is published twice for the same key or id."""
from __future__ import annotations

import hashlib
import json
import math
import threading
from datetime import datetime, timezone
from typing import Any, Callable

import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update
from starlette.requests import ClientDisconnect

from events.codec import event_identity
from events.signing import Keystore
from events.topics import Topics
from infra.api_store import api_answers
from infra.submit import Submitter
from projections.tables import dead_letters, event_log, rejections
from web.callers import Caller, Refused, caller, writer
from web.problems import MEDIA_TYPE as PROBLEM, REF as PROBLEM_REF, problem, responses

log = structlog.get_logger("govshare.api")

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


_BODY = {"requestBody": {"required": True, "description": "one event or an array of them, as a line "
                          "of `govshare submit` holds; application/json (or application/*+json), UTF-8",
                          "content": {"application/json": {"schema": {
                              "anyOf": [{"$ref": "#/components/schemas/EventLine"},
                                        {"type": "array", "items": {"$ref": "#/components/schemas/EventLine"}}]}}}}}

ACTOR_NOT_CALLER = "actor-not-caller"
INVALID_EVENT = "invalid-event"

# How deep a body's arrays and objects may nest. An event's deepest field (a data item in a
# catalog entry's attributes) is five levels down; a body nested past this is no event, and
# refusing it here keeps every later reading of it (the digest, each line) within Python's
# recursion limit, whichever thread reads it.
MAX_NESTING = 64


def _with_verdicts(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {
        "allOf": [{"$ref": PROBLEM_REF}, {"type": "object", "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}}}]}}}}


_RESPONSES = {
    200: {"model": Verdicts, "description": "every verdict"},
    202: {"model": Verdicts, "description": "some verdicts not in yet: poll each item's `poll`"},
    **responses(400, 401, 413, 415, 429, 503, described={
        400: "malformed-json: the body is not JSON (not UTF-8, empty, nested too deep); no-events: an empty array",
        413: "body-too-large: more than GOVSHARE_API_BODY_MAX_BYTES; batch-too-large: more events than "
             "GOVSHARE_API_BATCH_MAX",
        415: "unsupported-media-type: the body is not application/json (nor application/*+json)",
        429: "rate-limited: more than GOVSHARE_API_RATE_PER_MINUTE requests a minute with this token; "
             "see Retry-After"}),
    403: _with_verdicts("write-scope-required (a read or audit token), or actor-not-caller: every event "
                        "acts for another department (each line's answer in `results`)"),
    422: _with_verdicts("invalid-event: the one event sent (not an array) is invalid (its answer in "
                        "`results`); idempotency-key-reused; invalid-request: Idempotency-Key too long"),
}


class Pipeline:
    """The API's one Submitter (infra/submit.py): one producer and one verdict stream for as
    long as the API serves. Made when the app starts (its lifespan, web/app.py), connected in the
    background so that the API answers its reads meanwhile; a submission arriving first waits
    for the connection, and one arriving while the broker cannot be reached is answered 503
    broker-unavailable and tries again."""

    def __init__(self, kafka: Callable[[], dict[str, str]], topics: Topics):
        self.kafka, self.topics = kafka, topics
        self._made: Submitter | None = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._connect_early, name="govshare-submitter", daemon=True).start()

    def _connect_early(self) -> None:
        try:
            self.submitter()
        except Refused as exc:  # the first submission tries again, and says why if it cannot
            log.warning("api.submitter-not-connected", error=exc.message)

    def submitter(self) -> Submitter:
        with self._lock:
            if self._closed:
                raise Refused(503, "shutting-down", "the API is stopping: submit again in a moment")
            if self._made is None:
                kafka = self.kafka()  # Refused 503 broker-unavailable when there is none
                try:
                    self._made = Submitter(kafka, self.topics)
                except Exception as exc:
                    raise Refused(503, "broker-unavailable", f"the broker cannot be reached to publish: "
                                  f"{exc}") from None
            return self._made

    def close(self) -> None:
        with self._lock:
            self._closed = True
            made, self._made = self._made, None
        if made is not None:
            made.close()


def _media_type(request: Request) -> None:
    """application/json or application/<anything>+json, in UTF-8 if a charset is named."""
    given = request.headers.get("content-type")
    kind, _, parameters = (given or "").partition(";")
    kind = kind.strip().lower()
    main, _, sub = kind.partition("/")
    charset = next((v.strip().strip('"').lower() for k, _, v in (p.partition("=") for p in parameters.split(";"))
                    if k.strip().lower() == "charset"), None)
    if main == "application" and (sub == "json" or sub.endswith("+json")) and charset in (None, "utf-8", "utf8"):
        return
    said = f"Content-Type {given[:100]!r}" if given else "no Content-Type"
    raise Refused(415, "unsupported-media-type", f"the body is JSON, sent as Content-Type: application/json "
                  f"(UTF-8); this request has {said}")


async def _read(request: Request, limit: int) -> bytes:
    """The body, read from the stream no further than `limit` bytes (a declared length over it is
    refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, f"declares {int(declared)} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(limit, f"holds more than {limit} bytes")
    except ClientDisconnect:
        raise Refused(400, "malformed-json", "the body ended before its end: the client went away") from None
    return bytes(body)


def _too_large(limit: int, said: str) -> Refused:
    return Refused(413, "body-too-large", f"the body {said}; the most one request may hold is {limit} bytes "
                   f"(GOVSHARE_API_BODY_MAX_BYTES): send the events in several requests")


def _parsed(raw: bytes) -> Any:
    """The body as JSON, or 400 malformed-json saying why not: not UTF-8, not JSON, nested too
    deep, a number JSON cannot hold, a lone surrogate (no Unicode character)."""
    def malformed(why: str) -> Refused:
        return Refused(400, "malformed-json", f"the body is not JSON: {why}")

    if not raw.strip():
        raise Refused(400, "malformed-json", "the body is empty: send one JSON object, or an array of them")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed(f"it is not UTF-8 (byte {raw[exc.start]:#04x} at position {exc.start})") from None
    try:
        body = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise malformed("it is nested deeper than the parser follows") from None
    except ValueError as exc:  # JSONDecodeError, a number out of range, NaN
        raise malformed(str(exc)) from None
    below = [(body, 1)]
    while below:
        value, depth = below.pop()
        if isinstance(value, str):
            _unicode(value, malformed)
        elif isinstance(value, (list, dict)):
            if depth > MAX_NESTING:
                raise malformed(f"it nests arrays and objects more than {MAX_NESTING} deep")
            if isinstance(value, dict):
                for key in value:
                    _unicode(key, malformed)
                value = value.values()
            below.extend((v, depth + 1) for v in value)
    return body


def _no_constant(name: str):
    raise ValueError(f"{name} is no JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _unicode(text: str, malformed) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise malformed(f"it holds a lone surrogate \\u{ord(text[exc.start]):04x}, which is no "
                        f"Unicode character") from None


async def events_body(request: Request, who: Caller = Depends(writer)) -> Any:
    """The body of POST /v1/events, read once the caller is known to write: its media type, its
    size while it streams in, its JSON, then the number of events."""
    settings = request.app.state.settings
    _media_type(request)
    body = _parsed(await _read(request, settings.api_body_max_bytes))
    if isinstance(body, list) and len(body) > settings.api_batch_max:
        raise Refused(413, "batch-too-large", f"the body holds {len(body)} events; the most one request may "
                      f"hold is {settings.api_batch_max} (GOVSHARE_API_BATCH_MAX): send them in several requests")
    return body


@router.post("/events", summary="submit events; the verdict of each", openapi_extra=_BODY,
             responses=_RESPONSES)
def submit(request: Request, body: Any = Depends(events_body),
           idempotency_key: str | None = Header(None, max_length=200), who: Caller = Depends(writer)):
    app = request.app.state
    single = not isinstance(body, list)  # one event, answered 422 if invalid; a batch per line
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    if idempotency_key:
        kept = _kept(app.api_engine, who.department, f"key:{idempotency_key}")
        if kept is not None:
            if kept.request_sha256 != digest:
                raise Refused(422, "idempotency-key-reused", f"Idempotency-Key {idempotency_key} was "
                              f"sent before with another body: use a new key for new events")
            return _answer(request, _refreshed(request, json.loads(kept.body), who), single)
    events = body if isinstance(body, list) else [body]
    if not events:
        raise Refused(400, "no-events", "the body holds no event: send one JSON object or an array")
    results: list[dict[str, Any] | None] = [None] * len(events)
    fresh: list[tuple[int, str]] = []  # (index in events, its key or "")
    keys = [_event_key(event) for event in events]
    # Every answer kept for the batch's events, in one query (not one a line).
    known = _kept_many(app.api_engine, who.department, [key for key in keys if key])
    for i, (event, key) in enumerate(zip(events, keys)):
        acting = event.get("actor") if isinstance(event, dict) else None
        department = acting.get("department") if isinstance(acting, dict) else None
        if department is not None and department != who.department:
            results[i] = {"status": "refused", "rule": ACTOR_NOT_CALLER,
                          "error": f"the event acts for {department}; this token speaks for {who.department}"}
            continue
        kept = known.get(key) if key else None
        if kept is not None:
            results[i] = _refreshed_one(request, json.loads(kept.body), who)
            continue
        fresh.append((i, key))
    if fresh:
        lines = [json.dumps(events[i], ensure_ascii=False) for i, _ in fresh]
        # Passed on as signed by the department's own system: the API holds no department's
        # key and signs nothing (an unsigned event is refused with submission-unsigned).
        answers = app.pipeline.submitter().submit(lines, app.settings.api_verdict_wait, keys=Keystore())
        for (i, key), found in zip(fresh, answers):
            results[i] = _as_answer(found)
        _keep_many(app.api_engine, who.department, [(key, "", 200, results[i]) for i, key in fresh if key])
    for number, result in enumerate(results, start=1):
        result["line"] = number
    answer = {"results": results}
    status = _status(results, single)
    if idempotency_key:
        _keep(app.api_engine, who.department, f"key:{idempotency_key}", digest, status, answer)
    return _answer(request, answer, single)


@router.get("/events/{event_id}", summary="the verdict of one submitted event")
def verdict(request: Request, event_id: str, who: Caller = Depends(caller)):
    found = _looked_up(request, event_id, who)
    if found is None:
        kept = _kept(request.app.state.api_engine, who.department, f"event:{event_id}")
        if kept is None:
            raise Refused(404, "no-such-event", f"no event {event_id} was submitted by {who.department}")
        found = {**json.loads(kept.body), "status": "pending"}
    return _answer(request, {"results": [found]}, single=False)


def _as_answer(found: dict[str, Any]) -> dict[str, Any]:
    """Submitter.submit's result as the API gives it: `no-verdict` is `pending`, with where to poll."""
    found = {k: v for k, v in found.items() if k != "line"}
    if found["status"] == "no-verdict":
        found.update(status="pending", poll=f"/v1/events/{found['event_id']}")
    return found


def _status(results: list[dict[str, Any]], single: bool) -> int:
    if all(r["status"] == "refused" for r in results):
        return 403
    if single and results[0]["status"] == "invalid":
        return 422
    return 202 if any(r["status"] == "pending" for r in results) else 200


def _answer(request: Request, answer: dict[str, Any], single: bool) -> JSONResponse:
    """200 or 202 with every line's answer; a refusal as a problem, the answers in `results`."""
    results = answer["results"]
    status = _status(results, single)
    if status == 403:
        rules = {r.get("rule") for r in results}
        rule = rules.pop() if len(rules) == 1 else ACTOR_NOT_CALLER
        detail = results[0]["error"] if len(results) == 1 else \
            f"every event acts for another department than the token's: {results[0]['error']}"
        return problem(request.url.path, 403, rule, detail, results=results)
    if status == 422:
        return problem(request.url.path, 422, INVALID_EVENT, f"the event is invalid: {results[0]['error']}",
                       results=results)
    pending = [r["poll"] for r in results if r["status"] == "pending"]
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
        return ""  # Submitter.submit answers why the id is wrong


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
    return _kept_many(engine, department, [key]).get(key)


def _kept_many(engine, department: str, keys: list[str]) -> dict[str, Any]:
    """The answers kept for these keys, by key."""
    if not keys:
        return {}
    with engine.connect() as conn:
        return {r.key: r for r in conn.execute(select(api_answers).where(
            api_answers.c.department == department, api_answers.c.key.in_(sorted(set(keys)))))}


def _keep(engine, department: str, key: str, digest: str, status: int, body: dict[str, Any]) -> None:
    _keep_many(engine, department, [(key, digest, status, body)])


def _keep_many(engine, department: str, answers: list[tuple[str, str, int, dict[str, Any]]]) -> None:
    """Keep (or replace) each answer under its key, in one transaction for a batch."""
    if not answers:
        return
    at = datetime.now(timezone.utc)
    rows = {key: dict(request_sha256=digest, status_code=status, body=json.dumps(body, ensure_ascii=False),
                      recorded_at=at) for key, digest, status, body in answers}
    with engine.begin() as conn:
        there = set(conn.scalars(select(api_answers.c.key).where(
            api_answers.c.department == department, api_answers.c.key.in_(sorted(rows)))))
        new = [dict(department=department, key=key, **values) for key, values in rows.items() if key not in there]
        if new:
            conn.execute(insert(api_answers), new)
        for key in there:
            conn.execute(update(api_answers).where(api_answers.c.department == department,
                                                   api_answers.c.key == key).values(**rows[key]))
