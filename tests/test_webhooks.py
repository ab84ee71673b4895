"""Webhooks through a real `govshare up` and real HTTP both ways: a department subscribes, its
verdicts reach a real local receiver as CloudEvents (binary mode), a refused delivery is tried
again with backoff and every attempt is on record, one never taken is given up; each department
sees only its own subscriptions; a URL that is not http(s) is refused by its rule. Every delivery
is signed as Standard Webhooks signs, checked here with hmac alone; a rotated secret signs beside
the new one until its grace period ends (on an injected clock); a receiver that is slow to answer
holds back no other receiver's deliveries."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from tests.builders import new_id, registered
from tests.conftest import running_service, wait_for
from tests.test_api import At, call, is_problem, serving, token

ATTEMPTS = 3


def verifies(secret: str, headers: dict, body: bytes) -> bool:
    """A receiver's check, as Standard Webhooks specifies it, written here from the spec alone:
    HMAC-SHA256 with the base64-decoded secret over "{webhook-id}.{webhook-timestamp}.{body}",
    base64, compared with each `v1,` signature of webhook-signature."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in headers.get("webhook-signature", "").split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, s) for s in given)


class Receiver:
    """A webhook receiver on a real port: answers `failures` requests with 500, then 200;
    keeps every request it got (headers, body, the bytes of the body, the status it answered).
    With `gate`, it holds each request until the gate opens (or a minute passes): a slow receiver;
    `entered` is set once a request waits there."""

    def __init__(self, failures: int, gate: threading.Event | None = None):
        self.failures, self.got, self.lock = failures, [], threading.Lock()
        self.gate, self.entered = gate, threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.gate is not None:
                    outer.entered.set()
                    outer.gate.wait(60)
                with outer.lock:
                    status = 500 if len(outer.got) < outer.failures else 200
                    outer.got.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": json.loads(body), "raw": body, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def taken(self) -> list[dict]:
        with self.lock:
            return [g for g in self.got if g["status"] == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooked(request, broker, tmp_path_factory):
    """A service whose notifier retries quickly (base 0.2 s, cap 1 s, given up after 3)."""
    env = {"GOVSHARE_WEBHOOK_BACKOFF_BASE": "0.2", "GOVSHARE_WEBHOOK_BACKOFF_CAP": "1",
           "GOVSHARE_WEBHOOK_ATTEMPTS": str(ATTEMPTS), "GOVSHARE_WEBHOOK_POLL_SECONDS": "0.1",
           # A slow receiver is waited for long enough that a delivery queued behind it would show.
           "GOVSHARE_WEBHOOK_TIMEOUT": "30"}
    with running_service(request.param, broker, tmp_path_factory.mktemp("webhooks"), env) as service:
        yield service


def _delete(service, path: str, tok: str) -> int:
    req = urllib.request.Request(service.api_url + path, method="DELETE",
                                 headers={"Authorization": f"Bearer {tok}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _deliveries(service, subscription: int, tok: str) -> list[dict]:
    answer = call(service, f"/v1/subscriptions/{subscription}/deliveries", token=tok)
    assert answer.status == 200, answer.body
    return answer.body["items"]


def test_verdicts_reach_the_receiver_as_cloudevents_retried_after_a_refusal(hooked):
    receiver = Receiver(failures=1)
    try:
        hrss = token(hooked, "gd-hrss", "write")
        made = call(hooked, "/v1/subscriptions", token=hrss, body={"url": receiver.url, "kinds": ["verdicts"]})
        assert made.status == 201, made.body
        assert made.body["department"] == "gd-hrss" and made.body["kinds"] == ["verdicts"]
        listed = call(hooked, "/v1/subscriptions", token=hrss).body["items"]
        assert [s["id"] for s in listed] == [made.body["id"]]

        refused = call(hooked, "/v1/events", token=hrss, body=registered(
            new_id(), share_type="CONDITIONAL", share_conditions="医保结算"))  # no legal basis
        accepted = call(hooked, "/v1/events", token=hrss, body=registered(new_id("gd-hrss")))
        assert refused.body["results"][0]["status"] == "rejected", refused.body
        assert accepted.body["results"][0]["status"] == "accepted", accepted.body
        verdicts = {r["event_id"]: r for r in (refused.body["results"][0], accepted.body["results"][0])}

        wait_for(lambda: len(receiver.taken()) == 2, 60, "both verdicts to be taken by the receiver")
        by_type = {g["headers"]["ce-type"]: g for g in receiver.taken()}
        assert set(by_type) == {"govshare.verdict.rejected", "govshare.verdict.accepted"}
        for ce_type, got in by_type.items():
            headers, data = got["headers"], got["body"]
            assert headers["ce-specversion"] == "1.0"
            assert headers["ce-source"] == f"/govshare/{hooked.topics.prefix}"
            assert headers["content-type"] == "application/json"
            # The body is the verdict as GET /v1/events/{id} gives it.
            assert data == call(hooked, f"/v1/events/{data['event_id']}", token=hrss).body["results"][0]
            assert {k: data[k] for k in ("status", "type")} == {
                k: verdicts[data["event_id"]][k] for k in ("status", "type")}
            assert unquote(headers["ce-subject"]) == data["aggregate_id"]
        # ce-id is the record's own event id: the accepted event's, the refusal's (for dedupe).
        assert by_type["govshare.verdict.accepted"]["headers"]["ce-id"] == accepted.body["results"][0]["event_id"]
        assert by_type["govshare.verdict.rejected"]["body"]["rule"] == refused.body["results"][0]["rule"]
        first = receiver.got[0]  # answered 500: tried again, same ce-id
        assert first["status"] == 500
        assert [g["headers"]["ce-id"] for g in receiver.got].count(first["headers"]["ce-id"]) == 2

        items = wait_for(lambda: [d for d in _deliveries(hooked, made.body["id"], hrss)
                                  if d["status"] == "delivered"] or None, 30, "deliveries recorded")
        items = _deliveries(hooked, made.body["id"], hrss)
        assert sorted(d["status"] for d in items) == ["delivered", "delivered"]
        retried = next(d for d in items if d["event_id"] == first["headers"]["ce-id"])
        assert [(a["attempt"], a["status_code"]) for a in retried["attempts"]] == [(1, 500), (2, 200)]
        assert retried["attempts"][0]["error"] == "HTTP 500 Internal Server Error"
        assert retried["attempts"][0]["next_attempt_at"] is not None
        assert retried["attempts"][1]["next_attempt_at"] is None and retried["next_attempt_at"] is None
        assert retried["attempts"][0]["next_attempt_at"] <= retried["attempts"][1]["at"]
        other = next(d for d in items if d is not retried)
        assert [(a["attempt"], a["status_code"]) for a in other["attempts"]] == [(1, 200)]
        assert retried["cloudevent"]["id"] == retried["event_id"]
    finally:
        receiver.close()


def test_each_department_sees_only_its_own_and_an_unreachable_receiver_is_given_up(hooked):
    ours, down = Receiver(failures=0), Receiver(failures=10 ** 6)
    try:
        hrss, amr = token(hooked, "gd-hrss", "read"), token(hooked, "gd-amr", "write")
        mine = call(hooked, "/v1/subscriptions", token=hrss, body={"url": ours.url}).body
        theirs = call(hooked, "/v1/subscriptions", token=amr, body={"url": down.url, "kinds": ["verdicts"]}).body
        assert mine["kinds"] == ["verdicts", "deadline-warnings", "deadline-breaches"]

        call(hooked, "/v1/events", token=amr, body=registered(new_id("gd-amr"), department="gd-amr"))
        items = wait_for(lambda: [d for d in _deliveries(hooked, theirs["id"], amr) if d["status"] == "failed"],
                         60, "gd-amr's delivery to be given up")
        assert [a["status_code"] for a in items[0]["attempts"]] == [500] * ATTEMPTS
        assert items[0]["attempts"][-1]["next_attempt_at"] is None

        # Neither sees, lists, reads nor deletes the other's subscription.
        assert [s["id"] for s in call(hooked, "/v1/subscriptions", token=amr).body["items"]] == [theirs["id"]]
        assert mine["id"] in [s["id"] for s in call(hooked, "/v1/subscriptions", token=hrss).body["items"]]
        assert theirs["id"] not in [s["id"] for s in call(hooked, "/v1/subscriptions", token=hrss).body["items"]]
        answer = call(hooked, f"/v1/subscriptions/{theirs['id']}/deliveries", token=hrss)
        assert (answer.status, answer.body["rule"]) == (404, "no-such-subscription")
        assert _delete(hooked, f"/v1/subscriptions/{theirs['id']}", hrss) == 404
        assert all(d["event_id"] != items[0]["event_id"] for d in _deliveries(hooked, mine["id"], hrss))
        assert ours.taken() == []  # gd-amr's verdict is not gd-hrss's
        assert _delete(hooked, f"/v1/subscriptions/{theirs['id']}", amr) == 204
        assert call(hooked, "/v1/subscriptions", token=amr).body["items"] == []

        # Refusals, each with its rule.
        audit = token(hooked, "gd-hrss", "audit")
        answer = call(hooked, "/v1/subscriptions", token=audit, body={"url": ours.url})
        assert is_problem(answer, 403, "audit-cannot-subscribe", "/v1/subscriptions")
        for url in ("ftp://example.org/hook", "file:///etc/passwd", "http://", "hook"):
            answer = call(hooked, "/v1/subscriptions", token=hrss, body={"url": url})
            assert is_problem(answer, 422, "webhook-url-not-http", "/v1/subscriptions"), url
            assert "http:// or https://" in answer.body["detail"]
        answer = call(hooked, "/v1/subscriptions", token=hrss, body={"url": ours.url, "kinds": ["gossip"]})
        assert is_problem(answer, 422, "invalid-request", "/v1/subscriptions")
        # A secret is replaced by its own department only.
        answer = call(hooked, f"/v1/subscriptions/{mine['id']}/secret", token=amr, body={})
        assert is_problem(answer, 404, "no-such-subscription", f"/v1/subscriptions/{mine['id']}/secret")
    finally:
        ours.close()
        down.close()


def _accepted(service, who: str) -> dict:
    answer = call(service, "/v1/events", token=who, body=registered(new_id("gd-hrss")))
    assert answer.body["results"][0]["status"] == "accepted", answer.body
    return answer.body["results"][0]


def test_deliveries_are_signed_and_a_rotated_secret_signs_beside_the_new_one(hooked):
    receiver = Receiver(failures=0)
    try:
        hrss = token(hooked, "gd-hrss", "write")
        made = call(hooked, "/v1/subscriptions", token=hrss, body={"url": receiver.url, "kinds": ["verdicts"]})
        assert made.status == 201, made.body
        secret = made.body["secret"]
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[len("whsec_"):])) >= 24
        # Shown once: not in the listing.
        listed = call(hooked, "/v1/subscriptions", token=hrss).body["items"]
        assert all("secret" not in s for s in listed)

        first = _accepted(hooked, hrss)
        [got] = wait_for(lambda: receiver.taken() or None, 60, "the first delivery")
        headers, raw = got["headers"], got["raw"]
        assert headers["webhook-id"] == headers["ce-id"] == first["event_id"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 300
        assert verifies(secret, headers, raw)
        # A body changed on the way, a wrong secret, another id or time: none verifies.
        tampered = json.dumps({**got["body"], "status": "rejected"}).encode()
        assert not verifies(secret, headers, tampered)
        assert not verifies(secret, headers, raw + b" ")
        assert not verifies("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), headers, raw)
        assert not verifies(secret, {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}, raw)
        assert not verifies(secret, {**headers, "webhook-id": "another"}, raw)

        rotated = call(hooked, f"/v1/subscriptions/{made.body['id']}/secret", token=hrss, body={})
        assert rotated.status == 200, rotated.body
        new = rotated.body["secret"]
        assert new.startswith("whsec_") and new != secret
        expires = datetime.fromisoformat(rotated.body["previous_expires_at"])
        # the default grace, from the API process's own clock (clock-ok: a span, no date)
        assert timedelta(hours=23) < expires - datetime.now(timezone.utc) <= timedelta(hours=24)  # clock-ok
        second = _accepted(hooked, hrss)
        got = wait_for(lambda: next((g for g in receiver.taken() if g["headers"]["ce-id"] == second["event_id"]),
                                    None), 60, "the delivery after the rotation")
        assert len(got["headers"]["webhook-signature"].split()) == 2
        assert verifies(new, got["headers"], got["raw"]) and verifies(secret, got["headers"], got["raw"])
    finally:
        receiver.close()


def test_a_slow_receiver_does_not_hold_back_another_receiver(hooked):
    gate = threading.Event()
    slow, fast = Receiver(failures=0, gate=gate), Receiver(failures=0)
    try:
        hrss = token(hooked, "gd-hrss", "read")
        # The slow one first: its delivery is due first, and was tried first when one worker did all.
        held = call(hooked, "/v1/subscriptions", token=hrss, body={"url": slow.url, "kinds": ["verdicts"]}).body
        call(hooked, "/v1/subscriptions", token=hrss, body={"url": fast.url, "kinds": ["verdicts"]})
        verdict = _accepted(hooked, token(hooked, "gd-hrss", "write"))

        assert slow.entered.wait(60), "the slow receiver was never called"
        [got] = wait_for(lambda: fast.taken() or None, 20, "the other receiver's delivery")
        assert got["headers"]["ce-id"] == verdict["event_id"]
        # ... while the slow receiver still holds its own: no attempt of it is on record yet.
        assert not gate.is_set()
        [pending] = _deliveries(hooked, held["id"], hrss)
        assert (pending["status"], pending["attempts"]) == ("pending", [])

        gate.set()
        done = wait_for(lambda: [d for d in _deliveries(hooked, held["id"], hrss) if d["status"] == "delivered"],
                        60, "the slow receiver's delivery to be recorded")
        assert [(a["attempt"], a["status_code"]) for a in done[0]["attempts"]] == [(1, 200)]
    finally:
        gate.set()
        slow.close()
        fast.close()


def test_after_the_grace_period_only_the_new_secret_signs(tmp_path):
    """On the app's and the notifier's clock, moved by the test: before the grace period ends both
    secrets sign, after it only the new one."""
    from sqlalchemy import insert

    from infra import tokens
    from infra.api_store import api_deliveries
    from infra.config import Settings
    from infra.database import make_engine
    from infra.migrate import migrate
    from web.app import create_app
    from web.notifier import Notifier

    settings = Settings(home=tmp_path / "home", webhook_secret_grace=3600.0)
    migrate(settings)
    api = make_engine(settings.api_database_url)
    who = tokens.issue(api, "gd-hrss", "read")[1]
    clock = [datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)]
    receiver = Receiver(failures=0)
    try:
        with serving(create_app(settings, now=lambda: clock[0])) as url:
            made = call(At(url), "/v1/subscriptions", token=who, body={"url": receiver.url}).body
            old = made["secret"]
            clock[0] += timedelta(minutes=5)
            rotated = call(At(url), f"/v1/subscriptions/{made['id']}/secret", token=who, body={}).body
            new = rotated["secret"]
            assert datetime.fromisoformat(rotated["previous_expires_at"]) == clock[0] + timedelta(hours=1)
        notifier = Notifier(settings, api, lambda: make_engine(settings.projection_url, read_only=True),
                            now=lambda: clock[0])

        def delivered(event_id: str) -> dict:
            with api.begin() as conn:
                conn.execute(insert(api_deliveries).values(
                    subscription_id=made["id"], event_id=event_id, kind="verdict", status="pending", attempts=0,
                    cloudevent=json.dumps({"specversion": "1.0", "id": event_id, "source": "/govshare/test",
                                           "type": "govshare.verdict.accepted", "data": {"event_id": event_id}}),
                    next_attempt_at=clock[0], created_at=clock[0]))
            assert notifier.deliver_to(made["id"]) == 1
            return next(g for g in receiver.taken() if g["headers"]["ce-id"] == event_id)

        clock[0] += timedelta(minutes=59)  # a minute of grace left
        within = delivered("e-within")
        assert verifies(old, within["headers"], within["raw"]) and verifies(new, within["headers"], within["raw"])
        assert int(within["headers"]["webhook-timestamp"]) == int(clock[0].timestamp())

        clock[0] += timedelta(minutes=2)  # the grace period is over
        after = delivered("e-after")
        assert len(after["headers"]["webhook-signature"].split()) == 1
        assert verifies(new, after["headers"], after["raw"]) and not verifies(old, after["headers"], after["raw"])
    finally:
        receiver.close()
