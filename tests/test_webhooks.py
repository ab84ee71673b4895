"""Webhooks through a real `govshare up` and real HTTP both ways: a department subscribes, its
verdicts reach a real local receiver as CloudEvents (binary mode), a refused delivery is tried
again with backoff and every attempt is on record, one never taken is given up; each department
sees only its own subscriptions; a URL that is not http(s) is refused by its rule."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import pytest

from tests.builders import new_id, registered
from tests.conftest import running_service, wait_for
from tests.test_api import call, token

ATTEMPTS = 3


class Receiver:
    """A webhook receiver on a real port: answers `failures` requests with 500, then 200;
    keeps every request it got (headers, body, the status it answered)."""

    def __init__(self, failures: int):
        self.failures, self.got, self.lock = failures, [], threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status = 500 if len(outer.got) < outer.failures else 200
                    outer.got.append({"headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": json.loads(body), "status": status})
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
           "GOVSHARE_WEBHOOK_ATTEMPTS": str(ATTEMPTS), "GOVSHARE_WEBHOOK_POLL_SECONDS": "0.1"}
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
        assert (answer.status, answer.body["rule"]) == (403, "audit-cannot-subscribe")
        for url in ("ftp://example.org/hook", "file:///etc/passwd", "http://", "hook"):
            answer = call(hooked, "/v1/subscriptions", token=hrss, body={"url": url})
            assert (answer.status, answer.body["rule"]) == (422, "webhook-url-not-http"), url
            assert "http:// or https://" in answer.body["error"]
        answer = call(hooked, "/v1/subscriptions", token=hrss, body={"url": ours.url, "kinds": ["gossip"]})
        assert (answer.status, answer.body["rule"]) == (422, "invalid-request")
    finally:
        ours.close()
        down.close()
