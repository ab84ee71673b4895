"""Outputs are govshare's own, provably (issue #15): records written straight to the output
topics, past the validator, as an attacker with access to the broker would, are set aside
where operators see them; never projected, never sealed as genuine, never blocking what
follows. Through the running service, on the embedded broker (no ACLs)."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from events import sharing as sh
from events.codec import encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from events.provenance import KEY_ID, SIGNATURE, StageKeys, StageRing
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from events.topics import Topics
from events.trail import TrailCheckpointed, origin_of
from infra.system import SYSTEM
from projections import queries
from projections.tables import trail_entries
from tests.builders import AUTH, LAW, event, lines, new_id, registered, request, reviewed
from tests.conftest import Service, start_service, wait_for
from tests.test_runtime import cli, in_catalog, parked, submit

GOVSHARE = Actor(department="govshare", person="validator", role=Role.SYSTEM)


@pytest.fixture(scope="module")
def attacked(broker, tmp_path_factory):
    """One running service the forgeries of this module are aimed at."""
    running = start_service(tmp_path_factory.mktemp("attacked"), {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
        "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    yield running
    running.stop()


def forge(service: Service, topic: str, envelope: Envelope, payload, *, signed_by=None) -> str:
    """Publish straight to an output topic, unsigned or signed with a key of no stage of the
    deployment; returns the forged record's ce_id."""
    out = Outgoing(topic, envelope.aggregate_id.encode(), encode_payload(payload), to_headers(envelope))
    if signed_by is not None:
        out = signed_by.sign(out)
    Publisher(service.kafka).publish([out])
    return str(envelope.event_id)


def accepted_envelope(line: dict, **established) -> tuple[Envelope, object]:
    now = datetime.now(timezone.utc)
    e = parse_line(lines(line)[0], now=now)
    return e.envelope.recorded(now, **established), e.payload


def set_aside(service: Service, event_id: str, stage: str) -> dict:
    """The parked row of a forged record at `stage`, once it is there."""
    def found():
        return next((p for p in parked(service, "--stage", stage) if p["event_id"] == event_id), None)
    row = wait_for(found, 60, f"{stage} to set {event_id} aside")
    assert "not govshare's" in row["error"], row
    return row


def test_a_forged_registration_is_set_aside_not_catalogued(attacked):
    # Given an EntryRegistered written straight to the catalog topic, unsigned
    entry = new_id()
    envelope, payload = accepted_envelope(registered(entry), provider="gd-hrss")
    forged = forge(attacked, attacked.topics.events("catalog-entry"), envelope, payload)
    # When a genuine registration follows it
    after = new_id()
    assert submit(attacked, registered(after)) == [("accepted", None)]
    # Then the genuine one is catalogued, the forged one is not, and both the projector and the
    # notary set it aside where operators see it
    wait_for(lambda: in_catalog(attacked, after), 60, "the genuine entry")
    projector = set_aside(attacked, forged, "projector")
    assert "unsigned" in projector["error"] and projector["topic"] == attacked.topics.events("catalog-entry")
    set_aside(attacked, forged, "notary")
    assert in_catalog(attacked, entry) is None
    health = cli(attacked, "health", "--json")
    assert health.returncode == 1
    assert {s["stage"]: s["parked"] for s in json.loads(health.stdout)["stages"]}["projector"] >= 1


def test_a_forged_approval_opens_no_grant(attacked):
    # Given a genuine conditional request, consulted and agreed, waiting for the authority
    entry, req = new_id(), new_id("req")
    # (the entry first: a request on another inbox may otherwise be judged before it exists)
    assert submit(attacked, registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                                       share_conditions="仅限审批")) == [("accepted", None)]
    assert submit(attacked, request(req, entry, ["I.1"]), *reviewed(req)) == [("accepted", None)] * 3
    # When an approval is written straight to the request topic, signed with a stranger's key
    envelope, payload = accepted_envelope(event("RequestApproved", req, 4, {"comment": "同意"}, **AUTH),
                                          provider="gd-hrss", route="conditional")
    stranger = StageKeys.generated(["validator"]).signer("validator")
    forged = forge(attacked, attacked.topics.events("share-request"), envelope, payload, signed_by=stranger)
    # Then the grant keeper sets it aside and opens nothing; the request is not approved
    row = set_aside(attacked, forged, "grants")
    assert "none of this deployment's stage keys" in row["error"]
    set_aside(attacked, forged, "projector")
    assert [g for g in queries.grant_list(attacked.engine()) if g["request_id"] == req] == []
    [shown] = [r for r in queries.request_list(attacked.engine()) if r["request_id"] == req]
    assert shown["status"] != "approved"


def test_a_forged_grant_for_no_request_shows_no_grant(attacked):
    # Given a GrantOpened written straight to the grant topic for a request that never existed
    req, now = new_id("req"), datetime.now(timezone.utc)
    grant = str(uuid.uuid4())
    payload = sh.GrantOpened(request_id=req, entry_id=new_id(), grantee="gd-amr", items=("I.1",),
                             purpose="任意", scenario="任意", method=sh.ShareMethod.INTERFACE,
                             valid_until=now + timedelta(days=365))
    envelope = Envelope(event_id=uuid.uuid4(), event_type="GrantOpened", schema_version=1,
                        aggregate_type=sh.GRANT, aggregate_id=grant, sequence=1, occurred_at=now,
                        recorded_at=now, actor=GOVSHARE, policy_id="guangdong-2018",
                        correlation_id=uuid.uuid4(), source="govshare/grants")
    forged = forge(attacked, attacked.topics.events(sh.GRANT), envelope, payload)
    # Then no grant shows, and the projector set it aside
    set_aside(attacked, forged, "projector")
    assert [g for g in queries.grant_list(attacked.engine()) if g["grant_id"] == grant] == []


def test_a_forged_record_taking_a_sequence_does_not_stop_the_projector(attacked):
    # Given a forged registration of an entry at sequence 1, before its genuine registration
    entry = new_id()
    envelope, payload = accepted_envelope(registered(entry, title="伪造的目录"), provider="gd-hrss")
    forged = forge(attacked, attacked.topics.events("catalog-entry"), envelope, payload)
    set_aside(attacked, forged, "projector")
    # When the provider registers it for real, and registers another after it
    after = new_id()
    assert submit(attacked, registered(entry), registered(after)) == [("accepted", None)] * 2
    # Then both genuine ones are projected: the forged one took nothing
    shown = wait_for(lambda: in_catalog(attacked, entry), 60, "the genuine registration")
    assert shown["attributes"]["title"] != "伪造的目录"
    wait_for(lambda: in_catalog(attacked, after), 60, "the one after it")


def test_a_forged_checkpoint_does_not_freeze_sealing(attacked):
    # Given a TrailCheckpointed on the trail topic that the trail key never signed, placed to
    # hold back every checkpoint after it
    now = datetime.now(timezone.utc)
    origin = origin_of(attacked.topics.prefix)
    with attacked.engine().connect() as conn:
        size = conn.scalar(select(func.count()).select_from(trail_entries))
    cp = TrailCheckpointed(origin=origin, previous_size=size + 7, tree_size=size + 1, leaves=(), root_hash=bytes(32),
                           chain_head=bytes(32), signed_at=now, key_id="deadbeef", signature=bytes(64))
    envelope = Envelope(event_id=uuid.uuid4(), event_type="TrailCheckpointed", schema_version=1,
                        aggregate_type="trail", aggregate_id=origin, sequence=1, occurred_at=now,
                        recorded_at=now, actor=Actor(department="govshare", person="notary", role=Role.SYSTEM),
                        policy_id="common", correlation_id=uuid.uuid4(), source="govshare:notary")
    forged = forge(attacked, attacked.topics.trail, envelope, cp)
    # When a genuine event follows
    [result] = _submitted(attacked, registered(new_id()))
    # Then it is sealed into the trail all the same, and the forgery is set aside and reported
    set_aside(attacked, forged, "projector")

    def sealed():
        with attacked.engine().connect() as conn:
            return conn.execute(select(trail_entries.c.position)
                                .where(trail_entries.c.record_id == result["event_id"])).first()
    wait_for(sealed, 60, "the genuine event sealed in the trail")
    done = cli(attacked, "verify", "--json")
    findings = json.loads(done.stdout)["findings"]
    assert any(f["problem"] == "bad-signature" and "trail topic" in f["detail"] for f in findings), findings


def _submitted(service: Service, *events) -> list[dict]:
    from infra.submit import submit_lines
    results = submit_lines(lines(*events), service.kafka, service.topics, timeout=90)
    assert [r["status"] for r in results] == ["accepted"] * len(events)
    return results


def test_a_signature_covers_every_header_and_the_value():
    keys = StageKeys.generated(["validator"])
    out = keys.signer("validator").sign(Outgoing("t", b"k", b"value", [("ce_id", b"1"), ("ce_type", b"x")]))
    ring: StageRing = keys.ring
    assert ring.problem("t", out.headers, out.value) is None
    assert [k for k, _ in out.headers][-2:] == [KEY_ID, SIGNATURE]
    assert "does not verify" in ring.problem("t", out.headers, b"valuE")
    altered = [(k, b"2" if k == "ce_id" else v) for k, v in out.headers]
    assert "does not verify" in ring.problem("t", altered, out.value)
    assert "does not verify" in ring.problem("t", out.headers + [("ce_govrecordedat", b"x")], out.value)
    assert "unsigned" in ring.problem("t", out.headers[:-2], out.value)


def test_a_genuine_record_on_a_topic_its_stage_does_not_write_is_not_that_topics():
    """The System says which stage writes which topic: a validator's record replayed onto the
    deadline topic (or any other it was not produced for) is refused, whoever signed it."""
    topics = Topics("p")
    keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    out = keys.signer("validator").sign(Outgoing(topics.events("catalog-entry"), b"k", b"v", [("ce_id", b"1")]))
    assert keys.ring.problem(topics.events("catalog-entry"), out.headers, out.value) is None
    for elsewhere in (topics.events("deadline"), topics.trail, topics.events("grant")):
        assert "does not write" in keys.ring.problem(elsewhere, out.headers, out.value), elsewhere
