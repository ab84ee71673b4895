"""Bad input loses nothing: every message in is applied, rejected or dead-lettered, and the
validator keeps going."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from events.catalog import EntryTakenDown
from events.codec import encode_payload, to_headers
from events.errors import EventError
from events.publisher import MESSAGE_MAX_BYTES, Outgoing, Publisher
from events.submission import parse_line, to_inbox
from events.topics import Topics
from projections import queries
from tests.builders import event, lines, new_id, registered
from tests.conftest import wait_for

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def test_every_message_is_accounted_for(service):
    inbox = service.topics.inbox("catalog-entry")
    good, bad, after = (parse_line(line, now=NOW) for line in lines(
        registered(new_id()), registered(new_id(), share_type="NON_SHAREABLE"), registered(new_id())))
    headers = to_headers(good.envelope)
    unknown_type = [(k, b"govshare.EntryDeleted" if k == "ce_type" else v) for k, v in headers]
    garbage = b"\x00\xffnot an event"
    messages = [
        Outgoing(inbox, b"k1", encode_payload(good.payload), headers),
        Outgoing(inbox, b"k2", encode_payload(bad.payload), to_headers(bad.envelope)),
        Outgoing(inbox, b"k3", garbage, []),
        Outgoing(inbox, b"k4", encode_payload(good.payload), unknown_type),
        Outgoing(inbox, b"k5", encode_payload(EntryTakenDown(reason="x")), to_headers(after.envelope)),
        Outgoing(inbox, b"k6", encode_payload(good.payload)[:12], to_headers(after.envelope)),
        Outgoing(inbox, b"k7", encode_payload(after.payload), to_headers(after.envelope)),
    ]
    Publisher(service.kafka).publish(messages)

    engine = service.engine()
    counts = wait_for(lambda: (c := queries.counts(engine)) and sum(c.values()) >= 7 and c,
                      60, "all seven messages to be accounted for")
    assert counts == {"accepted": 2, "rejected": 1, "dead_lettered": 4}
    dead = {d["source"]: d for d in queries.dead(engine)}
    assert len(dead) == 4
    reasons = " | ".join(d["reason"] for d in dead.values())
    assert "missing CloudEvents header" in reasons
    assert "unknown event type 'govshare.EntryDeleted'" in reasons
    assert "does not match event type EntryRegistered" in reasons
    assert "does not decode" in reasons
    from sqlalchemy import select

    from projections.tables import dead_letters
    with engine.connect() as conn:
        stored = {r.value for r in conn.execute(select(dead_letters.c.value))}
    assert garbage in stored, "a dead letter keeps the original bytes"


def test_the_cli_explains_bad_lines_and_publishes_the_good_ones(service, tmp_path):
    good = lines(registered(new_id()))[0]
    unknown = json.dumps({"type": "EntryDeleted", "aggregate_id": "a", "sequence": 1,
                          "actor": {}, "policy": "p", "payload": {}})
    mismatch = json.loads(lines(registered(new_id()))[0])
    mismatch["payload"]["attributes"]["share_type"] = "SOMETIMES"
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([good, "{broken json", unknown, json.dumps(mismatch)]) + "\n")
    done = subprocess.run([sys.executable, "-m", "infra.cli", "submit", str(path)],
                          env=service.env, capture_output=True, text=True, timeout=120)
    out = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr
    assert out[0].startswith("line 1: accepted EntryRegistered")
    assert out[1].startswith("line 2: INVALID malformed JSON")
    assert "unknown event type 'EntryDeleted'" in out[2]
    assert "payload.attributes.share_type: 'SOMETIMES' is not one of" in out[3]


def _line(**changes) -> bytes:
    """A good EntryRegistered line with some top-level fields replaced."""
    return json.dumps({**registered(new_id()), **changes}, ensure_ascii=False).encode()


def _payload_line(**attributes) -> bytes:
    return json.dumps(registered(new_id(), **attributes)).encode()


def _without(part: str, key: str) -> bytes:
    data = registered(new_id())
    (data["payload"]["attributes"] if part == "payload" else data[part]).pop(key)
    return json.dumps(data).encode()


# One line of every kind that used to end `govshare submit` with a traceback, and the words its
# answer must hold (a sentence naming the field or the limit).
HOSTILE = {
    "occurred_at in year 1 with an offset": (
        _line(occurred_at="0001-01-01T00:00:00+05:00"), "occurred_at: .* falls outside years 1 to 9999"),
    "occurred_at in year 9999 with an offset": (
        _line(occurred_at="9999-12-31T23:59:59-05:00"), "occurred_at: .* falls outside years 1 to 9999"),
    "a payload time out of range": (
        json.dumps(event("UrgentLimitSet", "obj-1", 2, {"due_at": "0001-01-01T00:00:00+05:00",
                                                        "reason": "urgent"})).encode(),
        "payload.due_at: .* falls outside years 1 to 9999"),
    "JSON nested 5,000 deep": (
        _line()[:-1] + b', "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper"),
    "a lone surrogate in the envelope": (
        _line().replace(b"li.ming", b"\\ud800"), "actor.person: holds '.*ud800'"),
    "a lone surrogate in the payload": (
        _payload_line(title="\ud800"), "payload.attributes.title: holds '.*ud800'"),
    "a list as type": (_line(type=["EntryRegistered"]), "type: expected a non-empty string"),
    "a number as source": (_line(source=5), "source: expected a non-empty string"),
    "a key missing inside actor": (_without("actor", "department"), r"actor: missing field\(s\) department"),
    "a key missing inside payload": (
        _without("payload", "title"), r"payload.attributes: missing field\(s\) title"),
    "a sequence past an Avro long": (_line(sequence=2**63), "sequence: expected a whole number"),
    "an event bigger than a message": (
        _payload_line(description="x" * MESSAGE_MAX_BYTES), f"at most {MESSAGE_MAX_BYTES} bytes"),
    "bytes that are not UTF-8": (_line(aggregate_id="a-b").replace(b"a-b", b"a\xff"), "not UTF-8"),
    # What only govshare emits: refused before it is published, naming the validator's rule.
    "a grant, which only govshare opens": (
        json.dumps(event("GrantOpened", "grant-1", 1, {}, department="gd-authority",
                         role="DATA_AUTHORITY")).encode(),
        "type: GrantOpened is emitted by govshare itself .* event-type-not-publishable"),
    "a rejection, which only the validator gives": (
        _line(type="EventRejected"), "type: EventRejected is emitted by govshare itself .* event-type-not-publishable"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_line_gets_a_sentence_naming_what_is_wrong(kind):
    line, reason = HOSTILE[kind]
    with pytest.raises(EventError, match=reason):
        to_inbox(parse_line(line, now=NOW), Topics("t"))  # what `submit` does with each line


def test_every_line_of_a_hostile_file_gets_its_own_answer(service, tmp_path):
    good = [_line() for _ in range(2)]
    # Within a message, but past what the validator lets into the tables: a rejection, not invalid.
    too_large = _payload_line(description="x" * (300 * 1024))
    # A time that encodes, but no deadline arithmetic should meet: out of bounds, a rejection.
    far_back = _line(occurred_at="0001-01-02T00:00:00Z")
    hostile = [line for line, _ in HOSTILE.values()]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join([good[0], *hostile, b"", too_large, far_back, good[1]]) + b"\n")

    done = subprocess.run([sys.executable, "-m", "infra.cli", "submit", "--json", str(path)],
                          env=service.env, capture_output=True, timeout=180)

    assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
    assert done.returncode == 1, done.stderr.decode(errors="replace")
    answers = [json.loads(out) for out in done.stdout.decode().splitlines()]
    blank = 2 + len(hostile)
    assert [a["line"] for a in answers] == [n for n in range(1, blank + 4) if n != blank]
    assert answers[0]["status"] == answers[-1]["status"] == "accepted"
    for answer, (kind, (_, reason)) in zip(answers[1:], HOSTILE.items()):
        assert answer["status"] == "invalid", kind
        assert re.search(reason, answer["error"]), (kind, answer)
    assert answers[-3]["status"] == "rejected" and answers[-3]["rule"] == "message-too-large"
    assert answers[-2]["status"] == "rejected" and answers[-2]["rule"] == "value-out-of-bounds"
    assert "envelope.occurred_at is 0001-01-02" in answers[-2]["error"]


# Raw headers a producer other than govshare submit might send, and the reason each must be
# dead-lettered with.
BAD_HEADERS = {
    ("ce_time", b"0001-01-01T00:00:00+05:00"): "header ce_time .* falls outside years 1 to 9999",
    ("ce_time", b"9999-12-31T23:59:59-05:00"): "header ce_time .* falls outside years 1 to 9999",
    ("ce_time", b"99999-01-01T00:00:00Z"): "header ce_time .* Invalid isoformat string",
    ("ce_time", b"garbage"): "header ce_time .* Invalid isoformat string",
    ("ce_govrecordedat", b"0001-01-01T00:00:00+05:00"): "header ce_govrecordedat .* falls outside",
    ("ce_govsequence", b"9" * 30): "header ce_govsequence is 9+; at most",
}


def test_headers_out_of_range_are_dead_lettered_with_the_header_named(service):
    inbox = service.topics.inbox("catalog-entry")
    messages, expected = [], {}
    for i, ((name, bad), reason) in enumerate(BAD_HEADERS.items()):
        sent = parse_line(_line(), now=NOW)
        headers = [(k, v) for k, v in to_headers(sent.envelope) if k != name] + [(name, bad)]
        messages.append(Outgoing(inbox, f"k{i}".encode(), encode_payload(sent.payload), headers))
        expected[str(sent.envelope.event_id)] = reason
    Publisher(service.kafka).publish(messages)

    engine = service.engine()
    dead = wait_for(lambda: len(d := queries.dead(engine)) >= len(expected) and d,
                    60, "every message with a bad header to be dead-lettered")
    reasons = {d["event_id"]: d["reason"] for d in dead}
    assert reasons.keys() == expected.keys()
    for event_id, reason in expected.items():
        assert re.search(reason, reasons[event_id]) and "\n" not in reasons[event_id], reasons[event_id]
    assert queries.counts(engine) == {"accepted": 0, "rejected": 0, "dead_lettered": len(expected)}
    assert "Traceback" not in service.log.read_text(errors="replace")
