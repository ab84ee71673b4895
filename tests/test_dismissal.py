"""A message no stage wrote is reported once and then dismissed (issue #26.5): the platform
administrator's signed MessageDismissed, itself on the trail, names the message by its place and
the hash of its bytes and says why; from then on `health` does not count the stages' parked
copies of it and `verify` leaves it out of the trail topic's anchor, saying so.

The rules and the read side run on the in-memory harness over both databases. One test runs the
commands an operator types (`health`, `verify`, `dismiss`, `query dismissals`) against a real
`govshare up` and its broker, since they exist only there; on SQLite (the embedded deployment).
"""
from __future__ import annotations

import hashlib
import json
import uuid

from confluent_kafka import Producer

from audit import keys as deployment_keys
from audit.trail import origin_of
from events.codec import encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from events.operations import dismissal_id
from infra.anchor import checkpoints_in
from projections import queries
from projections.verification import verify
from runtime import parking
from tests.builders import event, new_id, registered
from tests.conftest import EPOCH, start_service, wait_for
from tests.test_provenance import accepted_envelope, forge, forge_checkpoint
from tests.test_trail import cli

ADMIN = dict(department="platform-admin", role="PLATFORM_ADMIN", policy="common")
REASON = "已核查：非本平台各环节写入，系对主题的伪造写入，留存备查"


def dismissal(topic: str, partition: int, offset: int, value: bytes, *, reason: str = REASON,
              stage: str = "projector", aggregate_id: str | None = None, **actor) -> dict:
    return event("MessageDismissed", aggregate_id or dismissal_id(topic, partition, offset), 1,
                 {"topic": topic, "partition": partition, "offset": offset, "stage": stage,
                  "sha256": hashlib.sha256(value).hexdigest(), "reason": reason}, **(actor or ADMIN))


def forged_registration(harness) -> tuple[dict, bytes]:
    """A registration written straight to the catalog's event topic, unsigned: each parked row
    of it, and its bytes."""
    envelope, payload = accepted_envelope(registered(new_id(), title="伪造的目录"), provider="gd-hrss")
    forged = forge(harness, harness.topics.events("catalog-entry"), envelope, payload)
    rows = [p for p in harness.parked() if p["event_id"] == forged]
    assert rows and {r["status"] for r in rows} == {"parked"}
    return rows[0], encode_payload(payload)


def test_a_forged_record_is_dismissed_once_with_its_reason_and_is_no_longer_parked(harness):
    # Given a forged record the stages set aside
    row, value = forged_registration(harness)
    place = (row["topic"], row["partition"], row["offset"])
    # When a department tries to dismiss it, then the platform administrator does
    refused = harness.results(dismissal(*place, value, department="gd-hrss", role="PROVIDER", policy="guangdong-2018"))
    [accepted] = harness.given(dismissal(*place, value))
    # Then only the administrator's dismissal is recorded, with its reason, on the trail
    assert refused[0]["status"] == "rejected" and refused[0]["rule"] in ("event-type-not-publishable",
                                                                         "role-not-held", "actor-not-permitted")
    engine = harness.project()
    [listed] = queries.dismissals(engine)
    assert (listed["topic"], listed["partition"], listed["offset"]) == place
    assert listed["reason"] == REASON and listed["event_id"] == accepted["event_id"]
    # and the stages' copies of it, once marked, are neither listed nor counted as parked
    marked = sum(parking.dismiss(e, *place, hashlib.sha256(value).hexdigest(), f"dismissed by {accepted['event_id']}")
                 for e in harness.sim.runner._engines())
    assert marked >= 1
    assert not [p for p in harness.parked() if p["event_id"] == row["event_id"]]
    assert not any(parking.counts(e) for e in harness.sim.runner._engines())
    # and a second dismissal of the same message is refused, naming the platform rule
    [again] = harness.results(dismissal(*place, value, reason="再次处置"))
    assert (again["status"], again["rule"], again["article"]) == ("rejected", "message-dismissed-already",
                                                                  "govshare platform rule")


def test_a_dismissal_gives_a_reason_and_names_the_message_it_dismisses(harness):
    topic = harness.topics.events("catalog-entry")
    no_reason, elsewhere, no_hash = harness.results(
        dismissal(topic, 0, 5, b"x", reason="  "),
        dismissal(topic, 0, 6, b"x", aggregate_id=dismissal_id(topic, 0, 7)),
        {**dismissal(topic, 0, 8, b"x"), "payload": {**dismissal(topic, 0, 8, b"x")["payload"], "sha256": "abc"}})
    assert no_reason["rule"] == "dismissal-reason-required"
    assert elsewhere["rule"] == "dismissal-mismatch" and "offset 6" in elsewhere["error"]
    assert no_hash["rule"] == "dismissal-mismatch" and "64" in no_hash["error"]


def test_a_dismissed_forged_checkpoint_is_left_out_of_the_anchor(harness):
    # Given a checkpoint on the trail topic no pinned key signed: verify finds it, at its offset
    forge_checkpoint(harness)
    harness.given(registered(new_id()))
    keys = deployment_keys.ring_keys(harness.sim.settings.trail_key_file, origin_of(harness.topics.prefix))
    messages = harness.sim.messages(harness.topics.trail)
    found = checkpoints_in(messages)
    [offset] = found.unsigned(keys)
    assert not verify(harness.engine, keys, now=harness.sim.clock.now(), anchor=found.checkpoints).intact
    # When the administrator dismisses it
    forged = next(m for m in messages if m.offset == offset)
    harness.given(dismissal(harness.topics.trail, 0, offset, forged.value, stage=""))
    engine = harness.project()
    dismissed = [(d["partition"], d["offset"], d["sha256"]) for d in queries.dismissals(engine)]
    # Then the anchor leaves it out, says so, and the trail verifies, the dismissal in it
    anchor = checkpoints_in(harness.sim.messages(harness.topics.trail), dismissed)
    assert anchor.dismissed == 1 and anchor.unsigned(keys) == []
    report = verify(engine, keys, now=harness.sim.clock.now(), anchor=anchor.checkpoints)
    assert report.intact, report.findings
    # and a message with other bytes at that place would not be covered by it
    assert checkpoints_in(messages, [(0, offset, "0" * 64)]).dismissed == 0


def _forged_checkpoint_bytes(origin: str) -> tuple[bytes, list]:
    from audit.trail import TrailCheckpointed
    now = EPOCH
    cp = TrailCheckpointed(origin=origin, previous_size=0, tree_size=1, leaves=(), root_hash=bytes(32),
                           chain_head=bytes(32), signed_at=now, key_id="deadbeef", signature=bytes(64))
    envelope = Envelope(event_id=uuid.uuid4(), event_type="TrailCheckpointed", schema_version=1,
                        aggregate_type="trail", aggregate_id=origin, sequence=1, occurred_at=now,
                        recorded_at=now, actor=Actor(department="govshare", person="notary", role=Role.SYSTEM),
                        policy_id="common", correlation_id=uuid.uuid4(), source="govshare:notary")
    return encode_payload(cp), to_headers(envelope)


def test_an_operator_dismisses_forgeries_and_health_and_verify_come_back(broker, tmp_path):
    service = start_service(tmp_path, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                       "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        # Given a genuine event, then a forged record on an output topic and an unsigned
        # checkpoint on the trail topic, written past the validator
        cli(service, "submit", "-", stdin=json.dumps(registered(new_id())))
        envelope, payload = accepted_envelope(registered(new_id(), title="伪造"), provider="gd-hrss")
        producer = Producer(service.kafka)
        producer.produce(service.topics.events("catalog-entry"), encode_payload(payload),
                         envelope.aggregate_id.encode(), headers=to_headers(envelope))
        value, headers = _forged_checkpoint_bytes(origin_of(service.topics.prefix))
        producer.produce(service.topics.trail, value, b"forged", headers=headers)
        assert producer.flush(30) == 0

        def parked():
            rows = json.loads(cli(service, "query", "parked", "--json").stdout)
            return [r for r in rows if r["event_id"] == str(envelope.event_id)]
        wait_for(parked, 60, "the forged record to be parked")
        # Then health fails, and verify fails naming the trail topic's offset
        assert cli(service, "health", check=False).returncode == 1
        failed = cli(service, "verify", check=False)
        assert failed.returncode == 1 and "BAD-SIGNATURE" in failed.stdout
        offset = int(failed.stdout.split("at offset ")[1].split()[0])
        # When the operator dismisses both with their reasons
        row = parked()[0]
        done = cli(service, "dismiss", "--parked", str(row["id"]), "--stage", row["stage"], "--reason", REASON)
        assert "accepted MessageDismissed" in done.stdout
        assert "accepted MessageDismissed" in cli(service, "dismiss", "--trail-offset", str(offset),
                                                  "--reason", "伪造的检查点，已核查").stdout
        # Then health is back at 0, with no stage's copy of the forgery left parked
        wait_for(lambda: cli(service, "health", check=False).returncode == 0, 60, "health to pass")
        assert parked() == []
        # and verify passes once the dismissal is projected, saying what it left out
        passed = wait_for(lambda: (d := cli(service, "verify", check=False)).returncode == 0 and d, 60,
                          "verify to pass")
        assert passed.stdout.startswith("INTACT") and "1 message(s) of the trail topic left out" in passed.stderr
        # and both dismissals are listed, each with its reason
        listed = json.loads(cli(service, "query", "dismissals", "--json").stdout)
        assert {(d["topic"], d["reason"]) for d in listed} == {
            (row["topic"], REASON), (service.topics.trail, "伪造的检查点，已核查")}
        # and one dismissed again is refused with its rule
        again = cli(service, "dismiss", "--trail-offset", str(offset), "--reason", "again", check=False)
        assert again.returncode == 1 and "message-dismissed-already" in again.stdout
    finally:
        service.stop()
