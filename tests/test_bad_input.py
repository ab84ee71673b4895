"""Bad input loses nothing: every message in is applied, rejected or dead-lettered, and the
validator keeps going."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

from events.catalog import EntryTakenDown
from events.codec import encode_payload, to_headers
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from projections import queries
from tests.builders import lines, new_id, registered
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
    assert "unknown event type 'EntryDeleted'" in reasons
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
