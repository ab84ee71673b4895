"""The HTTP API through a real `govshare up` (the API is one of its supervised processes), over
real HTTP: verdicts and idempotent retries, tokens and scopes, each read view equal to
`govshare query ... --json`, pages, who sees what, /readyz, /metrics and the OpenAPI document."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from events.errors import EventError
from events.signing import Keystore
from events.submission import signed_line
from tests.builders import approved, new_id, registered, request, reviewed
from tests.conftest import Service, running_service, wait_for


NOW = datetime.now(timezone.utc)


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
            raw, status, found = got.read(), got.status, dict(got.headers)
    except urllib.error.HTTPError as exc:
        raw, status, found = exc.read(), exc.code, dict(exc.headers)
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode()
    return Answer(status, parsed, found)


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
    assert (reused.status, reused.body["rule"]) == (422, "idempotency-key-reused")


def test_no_token_an_unknown_or_revoked_one_is_401_and_a_wrong_scope_403(api):
    assert api.get("/v1/catalog", "audit").status == 200
    for given in (None, "gvs_not-a-token"):
        answer = call(api.service, "/v1/catalog", token=given)
        assert answer.status == 401 and answer.body["rule"] in ("token-required", "token-unknown")
    spare = token(api.service, "gd-psb", "read")
    listed = api.cli_json("api-token", "list")
    spare_id = max(t["id"] for t in listed if t["department"] == "gd-psb")
    assert cli(api.service, "api-token", "revoke", str(spare_id)).returncode == 0
    assert call(api.service, "/v1/catalog", token=spare).status == 401
    write = call(api.service, "/v1/events", token=api.tokens["psb"], body=registered(new_id()))
    assert (write.status, write.body["rule"]) == (403, "write-scope-required")
    trail = api.get("/v1/trail/checkpoint", "hrss")
    assert (trail.status, trail.body["rule"]) == (403, "audit-scope-required")
    assert api.get("/v1/dead-letters", "amr").status == 403


def test_an_event_acting_for_another_department_is_refused(api):
    answer = call(api.service, "/v1/events", token=api.tokens["amr"], body=registered(new_id()))
    assert answer.status == 403
    assert answer.body["results"][0]["rule"] == "actor-not-caller"


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
    assert api.get("/v1/catalog?cursor=bm9wZQ").status == 400


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
            "/healthz", "/readyz", "/metrics"} <= set(doc["paths"])


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
    assert "GD-2008 Art. 31" in result["article"]
