"""Bad input loses nothing: every message in is applied, rejected or dead-lettered, and the
validator keeps going.

Raw messages onto an inbox are published on the in-memory harness (tests/harness.py, over SQLite
and PostgreSQL), and a file of bad lines is answered there by the same reading `govshare submit`
does (infra/submit.read_lines, infra/submit.submitted). One test runs the `govshare submit`
command line itself against a real `govshare up` and its broker, because only the command line
prints the answers (as text and as JSON, a line quoting a lone surrogate included) and sets the
exit status; it runs once, on SQLite: the database kinds are the harness tests' concern."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from events import deadletter
from events.catalog import EntryTakenDown
from events.codec import encode_payload, to_headers
from events.errors import EventError
from events.publisher import MESSAGE_MAX_BYTES, Outgoing
from events.submission import parse_line, to_inbox
from events.topics import Topics
from projections import queries
from projections.tables import dead_letters
from tests.builders import event, lines, new_id, registered

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def no_traceback(capfd) -> None:
    """Nothing the stages ran printed a traceback (they log to this process's output here)."""
    out, err = capfd.readouterr()
    assert "Traceback" not in out + err, (out + err)[-4000:]


def test_every_message_is_accounted_for(system, capfd):
    inbox = system.topics.inbox("catalog-entry")
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
    system.sim.publish(messages, at=NOW)

    engine = system.engine
    assert queries.counts(engine) == {"accepted": 2, "rejected": 1, "dead_lettered": 4}
    dead = {d["source"]: d for d in queries.dead(engine)}
    assert len(dead) == 4
    reasons = " | ".join(d["reason"] for d in dead.values())
    assert "missing CloudEvents header" in reasons
    assert "unknown event type 'govshare.EntryDeleted'" in reasons
    assert "does not match event type EntryRegistered" in reasons
    assert "does not decode" in reasons
    with engine.connect() as conn:
        stored = {r.value for r in conn.execute(select(dead_letters.c.value))}
    assert garbage in stored, "a dead letter keeps the original bytes"
    # The dead letters on their topic, each keeping the bytes it was sent with, and nothing parked.
    on_topic = system.sim.messages(system.topics.dead_letters)
    assert len(on_topic) == 4 and garbage in {m.value for m in on_topic}
    assert system.parked() == []
    no_traceback(capfd)


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
    # Null where a value is required: the field named, never an encoder's exception.
    "a null acting department": (
        _line(actor={"department": None, "person": "li.ming", "role": "PROVIDER"}),
        "actor.department: expected str, got null"),
    "a null role": (_line(actor={"department": "gd-hrss", "person": "li.ming", "role": None}),
                    "actor.role: null is not one of PROVIDER, USER"),
    "a null payload": (_line(payload=None), "payload: expected an object, got null"),
    "a null actor": (_line(actor=None), "actor: expected an object"),
    "a department of 300 characters": (
        _line(actor={"department": "d" * 300, "person": "li.ming", "role": "PROVIDER"}),
        "actor.department has 300 characters; at most 100"),

    "a null text in the payload": (
        _payload_line(title=None), "payload.attributes.title: expected a value, got null"),
    "a null item of a list in the payload": (
        _payload_line(data_items=[None]), r"payload.attributes.data_items\[0\]: expected a value, got null"),
    "a number where the payload has text": (
        _payload_line(title=5), "payload.attributes.title: expected str, got 5"),
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


def hostile_file() -> bytes:
    """Two good lines around one line of every hostile kind, a blank line, and two lines that
    are read but refused by the validator."""
    good = [_line() for _ in range(2)]
    # Within a message, but past what the validator lets into the tables: a rejection, not invalid.
    too_large = _payload_line(description="x" * (300 * 1024))
    # A time that encodes, but no deadline arithmetic should meet: out of bounds, a rejection.
    far_back = _line(occurred_at="0001-01-02T00:00:00Z")
    hostile = [line for line, _ in HOSTILE.values()]
    return b"\n".join([good[0], *hostile, b"", too_large, far_back, good[1]]) + b"\n"


def check_hostile_answers(answers: list[dict]) -> None:
    blank = 2 + len(HOSTILE)
    assert [a["line"] for a in answers] == [n for n in range(1, blank + 4) if n != blank]
    assert answers[0]["status"] == answers[-1]["status"] == "accepted"
    for answer, (kind, (_, reason)) in zip(answers[1:], HOSTILE.items()):
        assert answer["status"] == "invalid", kind
        assert re.search(reason, answer["error"]), (kind, answer)
    assert answers[-3]["status"] == "rejected" and answers[-3]["rule"] == "message-too-large"
    assert answers[-2]["status"] == "rejected" and answers[-2]["rule"] == "value-out-of-bounds"
    assert "envelope.occurred_at is 0001-01-02" in answers[-2]["error"]


def test_every_line_of_a_hostile_file_gets_its_own_answer(system, capfd):
    # The file's lines as `govshare submit` reads them (readlines), answered as it answers them.
    answers = system.sim.submit(io.BytesIO(hostile_file()).readlines(), at=NOW)
    check_hostile_answers(answers)
    assert system.parked() == []
    no_traceback(capfd)


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


def test_headers_out_of_range_are_dead_lettered_with_the_header_named(system, capfd):
    inbox = system.topics.inbox("catalog-entry")
    messages, expected = [], {}
    for i, ((name, bad), reason) in enumerate(BAD_HEADERS.items()):
        sent = parse_line(_line(), now=NOW)
        headers = [(k, v) for k, v in to_headers(sent.envelope) if k != name] + [(name, bad)]
        messages.append(Outgoing(inbox, f"k{i}".encode(), encode_payload(sent.payload), headers))
        expected[str(sent.envelope.event_id)] = reason
    system.sim.publish(messages, at=NOW)

    engine = system.engine
    reasons = {d["event_id"]: d["reason"] for d in queries.dead(engine)}
    assert reasons.keys() == expected.keys()
    for event_id, reason in expected.items():
        assert re.search(reason, reasons[event_id]) and "\n" not in reasons[event_id], reasons[event_id]
    assert queries.counts(engine) == {"accepted": 0, "rejected": 0, "dead_lettered": len(expected)}
    # The same reasons on the dead-letter topic, where a producer reads them.
    on_topic = [dict((k, (v or b"").decode("utf-8", "replace")) for k, v in m.headers)
                for m in system.sim.messages(system.topics.dead_letters)]
    assert sorted(h[deadletter.REASON] for h in on_topic) == sorted(reasons.values())
    assert system.parked() == []
    no_traceback(capfd)


# --- the command line itself, through a real service and its broker


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_cli_explains_bad_lines_and_publishes_the_good_ones(service, tmp_path):
    """`govshare submit` prints one answer per non-blank line, in line order, as text and as
    JSON: the good lines accepted, a line it cannot read explained, and no traceback, whatever a
    line holds (lone surrogates, 5,000 brackets, bytes that are not UTF-8)."""
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
    assert len(out) == 4, done.stdout
    assert out[0].startswith("line 1: accepted EntryRegistered")
    assert out[1].startswith("line 2: INVALID malformed JSON")
    assert "unknown event type 'EntryDeleted'" in out[2]
    assert "payload.attributes.share_type: 'SOMETIMES' is not one of" in out[3]

    hostile = tmp_path / "hostile.jsonl"
    for mode in (["--json"], []):
        hostile.write_bytes(hostile_file())  # new events each time: a retry would be answered, not judged
        done = subprocess.run([sys.executable, "-m", "infra.cli", "submit", *mode, str(hostile)],
                              env=service.env, capture_output=True, timeout=180)
        assert b"Traceback" not in done.stderr, done.stderr.decode(errors="replace")
        assert done.returncode == 1, done.stderr.decode(errors="replace")
        printed = done.stdout.decode().splitlines()
        if mode:
            check_hostile_answers([json.loads(out) for out in printed])
            continue
        # As text: one printable line per answer, each naming its line and what became of it.
        blank = 2 + len(HOSTILE)
        assert [int(re.match(r"line (\d+): ", o)[1]) for o in printed] == \
            [n for n in range(1, blank + 4) if n != blank]
        assert all(o.isprintable() for o in printed)
        assert " accepted EntryRegistered " in printed[0] and " accepted EntryRegistered " in printed[-1]
        for out, (kind, (_, reason)) in zip(printed[1:], HOSTILE.items()):
            assert ": INVALID " in out and re.search(reason, out), (kind, out)
        assert "REJECTED EntryRegistered" in printed[-3] and "message-too-large" in printed[-3]
        assert "value-out-of-bounds" in printed[-2] and "envelope.occurred_at is 0001-01-02" in printed[-2]


def test_a_department_named_like_a_path_or_too_long_has_no_key_file(tmp_path):
    """The signing key is a file named after the department: a name that leaves the key
    directory, or that no file system takes, finds no key rather than another file or an OSError."""
    from events.signing import DepartmentKey, Keystore
    keys = tmp_path / "keys"
    keys.mkdir()
    DepartmentKey.generate("outside").write(tmp_path / "outside.pem")
    DepartmentKey.generate("gd-hrss").write(keys / "gd-hrss.pem")
    store = Keystore(keys)
    assert store.for_department("gd-hrss") is not None
    assert store.for_department("../outside") is None
    assert store.for_department("d" * 300) is None
