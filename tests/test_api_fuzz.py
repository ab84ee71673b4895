"""POST /v1/events fuzzed through a real `govshare up`, over real HTTP: a few hundred bodies drawn
by a seeded random generator (malformed JSON, a wrong type in any field, bodies over the limit,
deep nesting, batches over the limit, a bad or missing Content-Type, bytes that are not UTF-8,
odd Idempotency-Key headers, empty bodies). Every answer's status is one the OpenAPI document
lists for the route; every refusal is an RFC 9457 problem of the one shape; and nothing reaches
the broker for a refused body: the inbox topics' high watermarks do not move."""
from __future__ import annotations

import copy
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from events.topics import AGGREGATE_TYPES
from tests.builders import new_id, registered
from tests.conftest import running_service
from tests.test_api import PROBLEM, Answer, _signed, call, send_raw, token

SEED = 20261207
CASES = 320
LIMIT = 5 * 1024 * 1024  # GOVSHARE_API_BODY_MAX_BYTES's default
BATCH = 1000  # GOVSHARE_API_BATCH_MAX's default
PATH = "/v1/events"


@pytest.fixture(scope="module")
def fuzzed(broker, tmp_path_factory):
    with running_service("sqlite", broker, tmp_path_factory.mktemp("fuzz"), {}) as service:
        inboxes = Inboxes(service)
        try:
            yield service, token(service, "gd-hrss", "write"), inboxes
        finally:
            inboxes.close()


class Inboxes:
    """How many messages the service's inbox topics hold: the sum of their high watermarks."""

    def __init__(self, service):
        self.consumer = Consumer({**service.kafka, "group.id": f"fuzz-{uuid.uuid4()}"})
        meta = self.consumer.list_topics(timeout=10)
        names = [service.topics.inbox(a) for a in AGGREGATE_TYPES]
        assert all(n in meta.topics for n in names), "the inbox topics exist once the service is up"
        self.partitions = [TopicPartition(n, p) for n in names for p in meta.topics[n].partitions]

    def count(self) -> int:
        return sum(self.consumer.get_watermark_offsets(p, timeout=10)[1] for p in self.partitions)

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Case:
    kind: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/json"
    # What the answer must be: a status set and, for a refusal, the rules it may name (None: any
    # status the route documents).
    statuses: set[int] | None = None
    rules: set[str] | None = None
    chunked: bool = False
    declared: int | None = None
    send_body: bool = True


def _event() -> dict[str, Any]:
    return registered(new_id("gd-hrss"))


def _text(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


ODD_VALUES: list[Callable[[random.Random], Any]] = [
    lambda r: None, lambda r: True, lambda r: 0, lambda r: -1, lambda r: 2 ** 63, lambda r: -(2 ** 64),
    lambda r: 1.5, lambda r: 1e308, lambda r: "", lambda r: "x" * r.randint(1, 5000), lambda r: [],
    lambda r: {}, lambda r: [1, "a", None], lambda r: {"k": {"k": ["v"]}}, lambda r: "🙂" * r.randint(1, 50),
    lambda r: "\u0000\u001f", lambda r: "2026-13-45T99:99:99Z", lambda r: "gd-amr", lambda r: " ",
]


def _paths(value: Any, at: tuple = ()) -> list[tuple]:
    """Every place in an event a value sits, from its top-level fields to its data items'."""
    found = [at] if at else []
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, at + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, at + (i,))
    return found


def _replaced(event: dict, path: tuple, value: Any) -> dict:
    changed = copy.deepcopy(event)
    place = changed
    for step in path[:-1]:
        place = place[step]
    place[path[-1]] = value
    return changed


def malformed(r: random.Random) -> Case:
    text = json.dumps(_event(), ensure_ascii=False)
    how = r.randrange(6)
    if how == 0:
        text = text[:r.randrange(1, len(text))]
    elif how == 1:
        i = r.randrange(len(text))
        text = text[:i] + r.choice('{}[],:"\\') + text[i:]
    elif how == 2:
        text = text.replace('"', "'")
    elif how == 3:
        text = text[:-1] + ",}"
    elif how == 4:
        text += r.choice(["}", "]", "x", "{}", " 1"])
    else:
        text = "".join(r.choice("{}[]:,\"'\\ntrufalse0123456789 ") for _ in range(r.randint(1, 200)))
    try:
        json.loads(text)
        return Case("malformed-but-json", text.encode())  # the mutation kept it JSON: any documented answer
    except ValueError:
        return Case("malformed", text.encode(), statuses={400}, rules={"malformed-json"})


def wrong_type(r: random.Random) -> Case:
    event = _event()
    path = r.choice(_paths(event))
    changed = _replaced(event, path, r.choice(ODD_VALUES)(r))
    if r.random() < 0.2:  # or a field left out
        changed.pop(r.choice(list(changed)))
    body = [changed, _event()] if r.random() < 0.25 else changed
    # Still JSON the API reads: one event is answered 422 (or judged, if the change left it
    # valid, or 403 if it now acts for another department); a batch line by line.
    return Case("wrong-type", _text(body), statuses={200, 202, 403, 422})


def huge(r: random.Random) -> Case:
    how = r.randrange(3)
    if how == 0:  # a length declared over the limit, up to 60 MB: answered before it is sent
        return Case("huge-declared", declared=r.randint(LIMIT + 1, 60_000_000), send_body=False,
                    statuses={413}, rules={"body-too-large"})
    body = b"[" + b" " * (LIMIT + r.randint(1, 1 << 20)) + b"]"
    return Case("huge-chunked" if how == 1 else "huge-sent", body, chunked=how == 1,
                statuses={413}, rules={"body-too-large"})


def deep(r: random.Random) -> Case:
    depth = r.choice([r.randint(65, 5000), r.randint(100_000, 400_000)])
    opener, closer = r.choice([(b"[", b"]"), (b'{"a":', b"}")])
    body = opener * depth + b"1" + closer * depth
    if len(body) > LIMIT:
        return Case("deep-huge", body, statuses={413}, rules={"body-too-large"})
    return Case("deep", body, statuses={400}, rules={"malformed-json"})


def over_batch(r: random.Random) -> Case:
    item = r.choice([{}, 1, "x", None, _event()])
    return Case("over-batch", _text([item] * r.randint(BATCH + 1, 3 * BATCH)),
                statuses={413}, rules={"batch-too-large", "body-too-large"})


BAD_TYPES = [None, "text/plain", "application/x-www-form-urlencoded", "application/xml",
             "multipart/form-data; boundary=x", "application/json; charset=latin-1", "application/jsonp",
             "json", "application/", "*/*", "application/json; charset=utf-16", "text/json", "application/jsonx"]
GOOD_TYPES = ["application/json; charset=utf-8", "application/json;charset=UTF-8", "APPLICATION/JSON",
              "application/cloudevents+json", "application/json; foo=bar", "application/problem+json"]


def content_type(r: random.Random) -> Case:
    body = _text(_event())
    if r.random() < 0.7:
        return Case("bad-content-type", body, content_type=r.choice(BAD_TYPES),
                    statuses={415}, rules={"unsupported-media-type"})
    broken = r.random() < 0.5  # a JSON type with a body of no event: judged, never 415
    return Case("good-content-type", b'{"type": 1}' if broken else body, content_type=r.choice(GOOD_TYPES),
                statuses={422} if broken else {200, 202})


def not_utf8(r: random.Random) -> Case:
    text = json.dumps(_event(), ensure_ascii=False)
    how = r.randrange(4)
    if how == 0:
        body = text.encode("gbk")
    elif how == 1:
        body = text.encode("utf-16")
    elif how == 2:
        raw = bytearray(text.encode())
        raw.insert(r.randrange(len(raw)), r.choice([0x80, 0xC0, 0xFF, 0xFE, 0xED]))
        body = bytes(raw)
    else:
        body = bytes(r.randrange(128, 256) for _ in range(r.randint(1, 300)))
    return Case("not-utf8", body, statuses={400}, rules={"malformed-json"})


def idempotency(r: random.Random) -> Case:
    key = r.choice(["", " ", "k" * 201, "é-ключ".encode().decode("latin-1"), f"k-{uuid.uuid4()}", "a" * 200,
                    "k with spaces", "k;=,\"'", "0"])
    body = r.choice([_text(_event()), b'{"type": "EntryRegistered"}', b"[]", b"{", _text([_event(), _event()])])
    return Case("idempotency-key", body, headers={"Idempotency-Key": key})


def empty(r: random.Random) -> Case:
    return Case("empty", r.choice([b"", b" ", b"\n\t ", b"\r\n"]), statuses={400}, rules={"malformed-json"})


KINDS = [malformed, wrong_type, huge, deep, over_batch, content_type, not_utf8, idempotency, empty]


def test_every_body_is_answered_as_documented_and_a_refused_one_publishes_nothing(fuzzed):
    service, who, inboxes = fuzzed
    documented = {int(s) for s in call(service, "/openapi.json").body["paths"][PATH]["post"]["responses"]}
    assert {200, 202, 400, 403, 413, 415, 422, 429} <= documented
    r = random.Random(SEED)

    # The count moves when something is published: one valid event is one message more.
    before = inboxes.count()
    control = send(service, who, Case("valid", _text(_signed(_event()))))
    assert control.status == 200 and control.body["results"][0]["status"] == "accepted", control.body
    assert inboxes.count() == before + 1

    seen: dict[str, set[int]] = {}
    drawn: set[str] = set()
    before = inboxes.count()
    for number in range(CASES):
        kind = r.choice(KINDS)
        drawn.add(kind.__name__)
        case = kind(r)
        answer = send(service, who, case)
        after = inboxes.count()
        said = f"case {number} ({case.kind}): {answer.status} {str(answer.body)[:300]}"
        seen.setdefault(case.kind, set()).add(answer.status)
        assert answer.status in documented, said
        if case.statuses is not None:
            assert answer.status in case.statuses, said
        if answer.status >= 400:
            _problem(answer, said)
            if case.rules is not None:
                assert answer.body["rule"] in case.rules, said
            assert after == before, f"{said}: refused, yet {after - before} message(s) were published"
        before = after
    # Every kind was drawn, and the contract's refusals all came up.
    assert drawn == {k.__name__ for k in KINDS}
    statuses = set().union(*seen.values())
    assert {400, 413, 415, 422} <= statuses, seen


def send(service, who: str, case: Case) -> Answer:
    headers = {"Authorization": f"Bearer {who}", **case.headers}
    if case.content_type is not None:
        headers["Content-Type"] = case.content_type
    return send_raw(service.api_url, PATH, headers, case.body, chunked=case.chunked, declared=case.declared,
                    send_body=case.send_body)


def _problem(answer: Answer, said: str) -> None:
    assert answer.headers.get("content-type", "").startswith(PROBLEM), said
    body = answer.body
    assert isinstance(body, dict), said
    assert {"type", "title", "status", "detail", "instance", "rule"} <= set(body), said
    assert body["type"] == f"urn:govshare:problem:{body['rule']}" and body["status"] == answer.status, said
    assert body["instance"] == PATH, said
    assert all(isinstance(body[k], str) and body[k] for k in ("title", "detail", "rule")), said
    if answer.status == 429:
        assert answer.headers.get("retry-after", "").isdigit(), said
