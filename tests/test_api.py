"""The HTTP API through a real `govshare up` (the API is one of its supervised processes), over
real HTTP: verdicts and idempotent retries, tokens and scopes, each read view equal to
`govshare query ... --json`, pages, who sees what, /readyz, /metrics and the OpenAPI document;
the contract of POST /v1/events (415, 413 while the body streams in, 400, 422 for one invalid
event), every refusal an RFC 9457 problem, the rate limit per token on the app's clock, and one
producer and one verdict stream for the API's lifetime. tests/test_api_fuzz.py throws bodies at it."""
from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from events.errors import EventError
from events.signing import Keystore
from events.submission import signed_line
from tests.builders import approved, new_id, registered, request, reviewed
from tests.conftest import Service, free_port, running_service, wait_for


# When a line is signed: the real service receives it on its wall clock, and no verdict here
# depends on the date.
NOW = datetime.now(timezone.utc)  # clock-ok


@dataclass
class Answer:
    status: int
    body: object
    headers: dict


def call(service: Service, path: str, *, token: str | None = None, body=None, headers=None,
         sign: bool = True) -> Answer:
    """`body` posted to /v1/events is signed first, as the department's system signs what it
    sends (`govshare sign`); a line too broken to sign goes as it is."""
    if sign and path == "/v1/events" and body is not None:
        body = [_signed(e) for e in body] if isinstance(body, list) else _signed(body)
    sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    if data is not None:
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(service.api_url + path, data=data, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=60) as got:
            raw, status, found = got.read(), got.status, {k.lower(): v for k, v in got.headers.items()}
    except urllib.error.HTTPError as exc:
        raw, status, found = exc.read(), exc.code, {k.lower(): v for k, v in exc.headers.items()}
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode()
    return Answer(status, parsed, found)


PROBLEM = "application/problem+json"


def is_problem(answer: Answer, status: int, rule: str, instance: str = "/v1/events") -> bool:
    """The answer is an RFC 9457 problem of this status and rule, in the one shape of every refusal."""
    body = answer.body
    assert answer.status == status, (answer.status, body)
    assert answer.headers.get("content-type", "").startswith(PROBLEM), answer.headers
    assert isinstance(body, dict), body
    assert {"type", "title", "status", "detail", "instance", "rule"} <= set(body), body
    assert (body["type"], body["status"], body["rule"], body["instance"]) == \
        (f"urn:govshare:problem:{rule}", status, rule, instance), body
    assert isinstance(body["title"], str) and body["title"] and isinstance(body["detail"], str) and body["detail"]
    return True


def send_raw(url: str, path: str, headers: dict[str, str], body: bytes = b"", *, chunked: bool = False,
             declared: int | None = None, send_body: bool = True) -> Answer:
    """A POST over a socket of its own, its body sent by a thread while the answer is read: a
    server that answers before the body is all sent (413) is heard, whatever becomes of the rest.
    `declared`: the Content-Length said (the body's length by default); `chunked`: no length said."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            *(f"{k}: {v}" for k, v in headers.items())]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body) if declared is None else declared}")
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))

    def send():
        try:
            for i in range(0, len(body), 1 << 16):
                part = body[i:i + (1 << 16)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: the rest is not wanted
            pass
    if send_body:
        threading.Thread(target=send, daemon=True).start()
    try:
        got = http.client.HTTPResponse(sock)
        got.begin()
        raw = got.read()
        found = {k.lower(): v for k, v in got.getheaders()}
    finally:
        sock.close()
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(got.status, parsed, found)


def _signed(event):
    try:
        return json.loads(signed_line(json.dumps(event), Keystore.from_environment(), now=NOW))
    except EventError:
        return event


def cli(service: Service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


def token(service: Service, department: str, scope: str) -> str:
    done = cli(service, "api-token", "issue", "--department", department, "--scope", scope)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request, broker, tmp_path_factory):
    """One service per database kind, one scenario on it, read by every test of the module."""
    with running_service(request.param, broker, tmp_path_factory.mktemp("api"), {}) as service:
        yield Scenario.run(service)


@dataclass
class Scenario:
    service: Service
    tokens: dict[str, str]
    entries: list[str]
    request_id: str
    first: Answer  # the answer to the first POST (accepted, rejected, invalid)
    body: list

    @classmethod
    def run(cls, service: Service) -> "Scenario":
        tokens = {"hrss": token(service, "gd-hrss", "write"), "amr": token(service, "gd-amr", "write"),
                  "authority": token(service, "gd-authority", "write"),
                  "audit": token(service, "gd-hrss", "audit"), "psb": token(service, "gd-psb", "read"),
                  "amr-read": token(service, "gd-amr", "read")}
        entries = sorted(new_id("gd-hrss") for _ in range(3))
        body = [registered(entries[0], codes=["I.1"]),
                registered(new_id(), share_type="CONDITIONAL", share_conditions="医保结算"),  # no legal basis
                {"type": "EntryRegistered", "actor": {"department": "gd-hrss"}}]  # invalid: fields missing
        first = call(service, "/v1/events", token=tokens["hrss"], body=body, headers={"Idempotency-Key": "k-1"})
        for entry in entries[1:]:
            assert call(service, "/v1/events", token=tokens["hrss"], body=registered(entry)).status == 200
        request_id = new_id("req")
        answer = call(service, "/v1/events", token=tokens["amr"], body=request(request_id, entries[0]))
        assert answer.body["results"][0]["status"] == "accepted", answer.body
        consulted, answered = reviewed(request_id)
        assert call(service, "/v1/events", token=tokens["authority"], body=consulted).status == 200
        assert call(service, "/v1/events", token=tokens["hrss"], body=answered).status == 200
        assert call(service, "/v1/events", token=tokens["authority"], body=approved(request_id)).status == 200
        scenario = cls(service, tokens, entries, request_id, first, body)
        # Every verdict given is projected before the views are compared.
        wait_for(lambda: len(scenario.cli_json("query", "catalog")) == 3
                 and scenario.cli_json("query", "grants"), 60, "the scenario to be projected")
        return scenario

    def cli_json(self, *args: str):
        done = cli(self.service, *args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def get(self, path: str, who: str = "audit") -> Answer:
        return call(self.service, path, token=self.tokens[who])


def test_each_event_gets_its_verdict_accepted_rejected_or_invalid(api):
    assert api.first.status == 200
    accepted, rejected, invalid = api.first.body["results"]
    assert accepted["status"] == "accepted" and accepted["aggregate_id"] == api.entries[0]
    assert (rejected["status"], rejected["rule"], rejected["article"]) == \
        ("rejected", "legal-basis-required", "GD-2018 Art. 18")
    assert invalid["status"] == "invalid" and "missing field(s)" in invalid["error"]
    assert [r["line"] for r in api.first.body["results"]] == [1, 2, 3]
    # The later verdict, looked up by the event's id.
    found = api.get(f"/v1/events/{rejected['event_id']}", "hrss")
    assert found.status == 200 and found.body["results"][0]["rule"] == "legal-basis-required"


def test_a_retry_gets_the_first_answer_and_publishes_nothing(api):
    again = call(api.service, "/v1/events", token=api.tokens["hrss"], body=api.body,
                 headers={"Idempotency-Key": "k-1"})
    assert (again.status, again.body) == (api.first.status, api.first.body)
    # Without the header, an event's own id keys its verdict: the same answer, not a second try.
    alone = call(api.service, "/v1/events", token=api.tokens["hrss"], body=api.body[0])
    assert alone.body["results"][0] | {"line": 1} == api.first.body["results"][0]
    assert len(api.cli_json("query", "catalog", "--provider", "gd-hrss")) == 3
    reused = call(api.service, "/v1/events", token=api.tokens["hrss"], body=registered(new_id()),
                  headers={"Idempotency-Key": "k-1"})
    assert is_problem(reused, 422, "idempotency-key-reused")
    assert "Idempotency-Key k-1 was sent before with another body" in reused.body["detail"]


def test_no_token_an_unknown_or_revoked_one_is_401_and_a_wrong_scope_403(api):
    assert api.get("/v1/catalog", "audit").status == 200
    for given, rule in ((None, "token-required"), ("gvs_not-a-token", "token-unknown")):
        answer = call(api.service, "/v1/catalog", token=given)
        assert is_problem(answer, 401, rule, "/v1/catalog") and answer.headers["www-authenticate"] == "Bearer"
    spare = token(api.service, "gd-psb", "read")
    listed = api.cli_json("api-token", "list")
    spare_id = max(t["id"] for t in listed if t["department"] == "gd-psb")
    assert cli(api.service, "api-token", "revoke", str(spare_id)).returncode == 0
    assert call(api.service, "/v1/catalog", token=spare).status == 401
    write = call(api.service, "/v1/events", token=api.tokens["psb"], body=registered(new_id()))
    assert is_problem(write, 403, "write-scope-required")
    trail = api.get("/v1/trail/checkpoint", "hrss")
    assert is_problem(trail, 403, "audit-scope-required", "/v1/trail/checkpoint")
    assert api.get("/v1/dead-letters", "amr").status == 403


def test_an_event_acting_for_another_department_is_refused(api):
    answer = call(api.service, "/v1/events", token=api.tokens["amr"], body=registered(new_id()))
    assert is_problem(answer, 403, "actor-not-caller")
    assert answer.body["results"][0]["rule"] == "actor-not-caller"
    assert answer.body["detail"] == "the event acts for gd-hrss; this token speaks for gd-amr"


VIEWS = [("catalog", []), ("rejections", []), ("deadlines", []), ("supervision", []),
         ("objections", []), ("requests", []), ("grants", []), ("problems", []), ("accesses", []),
         ("dead-letters", []), ("deadlines", ["--party", "gd-hrss"]), ("rejections", ["--rule", "legal-basis-required"]),
         ("scorecards", []), ("scorecards", ["--period", "quarter", "--since", "2026-Q1"])]


@pytest.mark.parametrize("view,args", VIEWS, ids=[v + "".join(a) for v, a in VIEWS])
def test_each_read_view_equals_the_cli_json(api, view, args):
    params = "&".join(f"{a[2:].replace('-', '_')}={b}" for a, b in zip(args[::2], args[1::2]))
    answer = api.get(f"/v1/{view}?limit=1000&{params}")
    assert answer.status == 200, answer.body
    assert answer.body["items"] == api.cli_json("query", view, *args)


def test_an_entry_with_its_history_equals_the_cli_and_times_carry_the_jurisdictions_offset(api):
    answer = api.get(f"/v1/catalog/{api.entries[0]}")
    assert answer.body == api.cli_json("query", "catalog", api.entries[0])
    assert answer.body["registered_at"].endswith("+08:00")
    assert api.get("/v1/catalog/no-such-entry").status == 404


def test_pages_follow_the_cursor_to_the_end(api):
    seen, cursor = [], ""
    while True:
        page = api.get(f"/v1/catalog?limit=1{'&cursor=' + cursor if cursor else ''}").body
        seen += page["items"]
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
    assert [e["entry_id"] for e in seen] == api.entries
    assert is_problem(api.get("/v1/catalog?cursor=bm9wZQ"), 400, "bad-catalog-filter", "/v1/catalog")


def test_each_caller_sees_what_it_is_a_party_to(api):
    ids = lambda path, who: [r["request_id"] for r in api.get(path, who).body["items"]]  # noqa: E731
    assert ids("/v1/requests", "amr-read") == [api.request_id]  # the requester
    assert ids("/v1/requests", "hrss") == [api.request_id]  # the provider
    assert ids("/v1/requests", "psb") == []  # neither
    assert ids("/v1/requests", "authority") == [api.request_id]  # its jurisdiction
    assert [g["grantee"] for g in api.get("/v1/grants", "amr-read").body["items"]] == ["gd-amr"]
    assert api.get("/v1/grants", "psb").body["items"] == []
    # Refusals: of what the caller tried, and nothing else.
    mine = api.get("/v1/rejections", "hrss").body["items"]
    assert "legal-basis-required" in {r["rule"] for r in mine}
    assert mine == api.cli_json("query", "rejections", "--department", "gd-hrss")
    assert api.get("/v1/rejections", "psb").body["items"] == []


def test_readyz_turns_ready_and_metrics_count_the_scenario(api):
    ready = wait_for(lambda: (r := call(api.service, "/readyz")).status == 200 and r, 60, "/readyz to be 200")
    assert ready.body["ready"] is True
    metrics = call(api.service, "/metrics").body
    accepted = sum(1 for e in api.cli_json("trail", "--no-state") if e["what"]["event_type"] == "EntryRegistered"
                   and "rule" not in e["why"])
    assert f'govshare_events_accepted_total{{type="EntryRegistered"}} {float(accepted)}' in metrics
    assert 'govshare_events_rejected_total{rule="legal-basis-required",type="EntryRegistered"} 1.0' in metrics
    assert "govshare_dead_letters_total 0.0" in metrics
    for name in ('govshare_consumer_lag{stage="projector"}', 'govshare_deadlines{status="pending"}',
                 'govshare_deadlines{status="overdue"}'):
        assert name in metrics
    wait_for(lambda: "govshare_trail_checkpoint_age_seconds" in call(api.service, "/metrics").body, 30,
             "a signed checkpoint")


def test_the_openapi_document_names_every_route(api):
    doc = call(api.service, "/openapi.json").body
    assert {"/v1/events", "/v1/events/{event_id}", "/v1/catalog", "/v1/requests", "/v1/trail",
            "/healthz", "/readyz", "/metrics", "/v1/subscriptions/{subscription_id}/secret"} <= set(doc["paths"])


def test_the_openapi_document_names_every_refusal_as_a_problem(api):
    doc = call(api.service, "/openapi.json").body
    problem = doc["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail", "instance", "rule"} <= set(problem["required"])
    submit = doc["paths"]["/v1/events"]["post"]["responses"]
    for status in ("400", "401", "403", "413", "415", "422", "429", "503"):
        schema = json.dumps(submit[status]["content"][PROBLEM]["schema"])
        assert "#/components/schemas/ProblemDetails" in schema, status
    assert "GOVSHARE_API_BODY_MAX_BYTES" in submit["413"]["description"]
    # FastAPI's own validation answers, and every route taking a token, say the same.
    catalog = doc["paths"]["/v1/catalog"]["get"]["responses"]
    assert {"401", "422", "429"} <= set(catalog) and PROBLEM in catalog["422"]["content"]
    assert "HTTPValidationError" not in json.dumps(doc)


def test_every_refusal_of_every_route_is_a_problem(api):
    who = api.tokens["hrss"]
    assert is_problem(call(api.service, "/v1/no-such-thing", token=who), 404, "not-found", "/v1/no-such-thing")
    wrong = urllib.request.Request(api.service.api_url + "/v1/catalog", method="DELETE",
                                   headers={"Authorization": f"Bearer {who}"})
    try:
        urllib.request.urlopen(wrong, timeout=30)
        raise AssertionError("DELETE /v1/catalog was taken")
    except urllib.error.HTTPError as exc:
        answer = Answer(exc.code, json.loads(exc.read()), {k.lower(): v for k, v in exc.headers.items()})
    assert is_problem(answer, 405, "method-not-allowed", "/v1/catalog") and answer.headers["allow"] == "GET"
    assert is_problem(api.get("/v1/catalog?limit=0"), 422, "invalid-request", "/v1/catalog")
    assert is_problem(api.get("/v1/events/no-such-event", "hrss"), 404, "no-such-event", "/v1/events/no-such-event")


def test_one_invalid_event_is_422_and_a_batch_is_answered_per_line(api):
    broken = {"type": "EntryRegistered", "actor": {"department": "gd-hrss"}}  # fields missing
    alone = call(api.service, "/v1/events", token=api.tokens["hrss"], body=broken)
    assert is_problem(alone, 422, "invalid-event")
    [line] = alone.body["results"]
    assert line["status"] == "invalid" and "missing field(s)" in line["error"] and line["error"] in alone.body["detail"]
    # The same event in an array is a batch: 200, each line its answer, as before.
    batch = call(api.service, "/v1/events", token=api.tokens["hrss"], body=[broken])
    assert (batch.status, [r["status"] for r in batch.body["results"]]) == (200, ["invalid"])
    # A retry by Idempotency-Key gets the same refusal again.
    first = call(api.service, "/v1/events", token=api.tokens["hrss"], body=broken, headers={"Idempotency-Key": "k-bad"})
    again = call(api.service, "/v1/events", token=api.tokens["hrss"], body=broken, headers={"Idempotency-Key": "k-bad"})
    assert is_problem(first, 422, "invalid-event") and (again.status, again.body) == (first.status, first.body)


def test_a_body_that_is_not_json_is_415_or_400(api):
    url, who = api.service.api_url, {"Authorization": f"Bearer {api.tokens['hrss']}"}
    event = json.dumps(registered(new_id("gd-hrss"))).encode()
    # curl --data-binary's own Content-Type (it answered 500 before), none at all, another charset.
    for kind in ("application/x-www-form-urlencoded", None, "text/plain", "application/json; charset=latin-1"):
        sent = {**who, **({"Content-Type": kind} if kind else {})}
        answer = send_raw(url, "/v1/events", sent, event)
        assert is_problem(answer, 415, "unsupported-media-type"), kind
        assert "application/json" in answer.body["detail"]
    json_ = {**who, "Content-Type": "application/json"}
    for body, said in ((b"{not json", "Expecting property name"), (b"", "empty"), (b"[" * 200_000, "nested"),
                       (b"[" * 100 + b"]" * 100, "more than 64 deep"), ('{"a": "é"}'.encode("latin-1"), "not UTF-8"),
                       (b'{"a": NaN}', "NaN"), (b'{"a": "\\udc00"}', "lone surrogate")):
        answer = send_raw(url, "/v1/events", json_, body)
        assert is_problem(answer, 400, "malformed-json"), body[:20]
        assert said in answer.body["detail"], answer.body
    assert is_problem(send_raw(url, "/v1/events", json_, b"[]"), 400, "no-events")


def test_bodies_and_batches_over_their_limits_are_413_and_a_huge_one_is_not_read(api):
    url, who = api.service.api_url, {"Authorization": f"Bearer {api.tokens['hrss']}",
                                     "Content-Type": "application/json"}
    limit = 5 * 1024 * 1024  # GOVSHARE_API_BODY_MAX_BYTES's default
    # 60 MB declared: answered at once, before one byte of the body is sent.
    declared = send_raw(url, "/v1/events", who, declared=60_000_000, send_body=False)
    assert is_problem(declared, 413, "body-too-large") and "declares 60000000 bytes" in declared.body["detail"]
    # 60 MB with no length declared: answered once the limit is passed, while the rest is still on its way.
    streamed = send_raw(url, "/v1/events", who, b"[" + b" " * 60_000_000 + b"]", chunked=True)
    assert is_problem(streamed, 413, "body-too-large") and f"more than {limit} bytes" in streamed.body["detail"]
    batch = send_raw(url, "/v1/events", who, json.dumps([{}] * 1001).encode())
    assert is_problem(batch, 413, "batch-too-large") and "GOVSHARE_API_BATCH_MAX" in batch.body["detail"]
    # The API still answers on: nothing was held.
    assert call(api.service, "/healthz").status == 200


def test_the_trail_for_an_auditor(api):
    steps = api.get(f"/v1/trail?aggregate={api.entries[0]}&state=false").body["items"]
    assert steps == api.cli_json("trail", "--aggregate", api.entries[0], "--no-state")
    event_id = steps[0]["event_id"]
    proof = wait_for(lambda: (p := api.get(f"/v1/trail/proofs/{event_id}")).status == 200 and p, 30, "a proof")
    assert proof.body["record_id"] == event_id
    assert api.get("/v1/trail/checkpoint").body["tree_size"] >= 1




def test_the_api_signs_nothing_an_unsigned_event_is_refused(api):
    """The API holds no department's key: what a system sends unsigned stays unsigned."""
    answer = call(api.service, "/v1/events", token=api.tokens["hrss"], body=registered(new_id()), sign=False)
    [result] = answer.body["results"]
    assert (result["status"], result["rule"]) == ("rejected", "submission-unsigned")
    # The article the department's own policy cites for the rule (policies/*.toml).
    from processors.profiles import load_all
    found = load_all()
    assert result["article"] == found.policy(found.department("gd-hrss").policy_id).rule("submission-unsigned").article


@contextmanager
def serving(app, *, lifespan: str = "off"):
    """`app` served by uvicorn in a thread of the test, on a port of its own: its URL."""
    import uvicorn
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan,
                                           log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), 60, "the app to serve")
    assert server.started, "the app did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


@dataclass
class At:
    api_url: str


def test_a_token_over_its_rate_is_429_with_retry_after_on_the_app_s_clock(tmp_path):
    """The buckets run on the clock the app is given: time moves, nobody sleeps."""
    from infra import tokens
    from infra.config import Settings
    from infra.database import make_engine
    from infra.migrate import migrate
    from web.app import create_app
    settings = Settings(home=tmp_path, api_rate_per_minute=60)
    migrate(settings, only="api")
    engine = make_engine(settings.api_database_url)
    mine, theirs = (tokens.issue(engine, d, "read")[1] for d in ("gd-hrss", "gd-amr"))
    clock = [1000.0]
    with serving(create_app(settings, clock=lambda: clock[0])) as url:
        def get(who: str) -> Answer:
            return call(At(url), "/v1/subscriptions", token=who)

        assert [get(mine).status for _ in range(60)] == [200] * 60  # the burst: a minute's worth
        over = get(mine)
        assert is_problem(over, 429, "rate-limited", "/v1/subscriptions")
        assert over.headers["retry-after"] == "1" and "60 requests a minute" in over.body["detail"]
        assert get(theirs).status == 200  # another token's bucket is its own
        clock[0] += 1.0  # a second: one request more
        assert [get(mine).status, get(mine).status] == [200, 429]
        clock[0] += 30.0  # half a minute: thirty more
        assert [get(mine).status for _ in range(31)] == [200] * 30 + [429]
        clock[0] += 3600.0  # an hour: the bucket is full again, and no fuller
        assert [get(mine).status for _ in range(61)] == [200] * 60 + [429]


def test_one_producer_and_one_verdict_stream_serve_every_submission(api, monkeypatch):
    """The app makes one Submitter when it starts and every request uses it: submissions made at
    once each get their own verdict from the one stream."""
    from infra.config import Settings
    from web import submissions
    from web.app import create_app
    made = []

    class Counted(submissions.Submitter):
        def __init__(self, *args, **kwargs):
            made.append(self)
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(submissions, "Submitter", Counted)
    env = api.service.env
    settings = Settings(home=Path(env["GOVSHARE_HOME"]), topic_prefix=api.service.topics.prefix,
                        bootstrap_servers=api.service.kafka["bootstrap.servers"],
                        database_url=env.get("GOVSHARE_DATABASE_URL"))
    with serving(create_app(settings), lifespan="on") as url:
        events = [registered(new_id("gd-hrss")) for _ in range(8)]
        answers: list[Answer | None] = [None] * len(events)

        def post(i: int) -> None:
            answers[i] = call(At(url), "/v1/events", token=api.tokens["hrss"], body=events[i])
        threads = [threading.Thread(target=post, args=(i,)) for i in range(len(events))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert [a.status for a in answers] == [200] * len(events), [a.body for a in answers]
        assert [a.body["results"][0]["aggregate_id"] for a in answers] == [e["aggregate_id"] for e in events]
        assert {a.body["results"][0]["status"] for a in answers} == {"accepted"}
        again = call(At(url), "/v1/events", token=api.tokens["hrss"], body=registered(new_id("gd-hrss")))
        assert again.body["results"][0]["status"] == "accepted"
        assert len(made) == 1
    assert made[0].verdicts._stopping.is_set(), "the stream is closed with the app"
