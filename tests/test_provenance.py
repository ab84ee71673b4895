"""Outputs are govshare's own, provably (issue #15): records written straight to the output
topics, past the validator, as an attacker with access to the broker would, are set aside
where operators see them; never projected, never sealed as genuine, never blocking what
follows.

On the in-memory harness (tests/harness.py), both databases: the forgeries are published onto
the output topics with `harness.sim.publish`, which every stage reading them consumes as it
consumes the broker's log (runtime/memory.py runs the stages as the Kafka runner does: the
same signature check before decoding, the same parking). Nothing here needs a process or the
real broker, so no test of this module starts a service.
"""
from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from events import sharing as sh
from events.codec import encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from audit.provenance import BATCH, KEY_ID, SIGNATURE, NotGovshares, StageKeys, StageRing
from events.publisher import Outgoing
from events.submission import parse_line
from events.topics import Topics
from audit.trail import Records, TrailCheckpointed, origin_of
from audit import keys as deployment_keys
from infra.system import SYSTEM
from projections import queries
from projections.tables import trail_entries
from projections.verification import verify
from tests.builders import AUTH, LAW, event, lines, new_id, registered, request, reviewed
from tests.conftest import EPOCH
from tests.harness import Harness
from tests.test_runtime import answers, health, in_catalog

GOVSHARE = Actor(department="govshare", person="validator", role=Role.SYSTEM)


def forge(harness: Harness, topic: str, envelope: Envelope, payload, *, signed_by=None) -> str:
    """Publish straight to an output topic, unsigned or signed with a key of no stage of the
    deployment, and let every stage run; returns the forged record's ce_id."""
    out = Outgoing(topic, envelope.aggregate_id.encode(), encode_payload(payload), to_headers(envelope))
    if signed_by is not None:
        out = signed_by.sign(out)
    harness.sim.publish([out])
    return str(envelope.event_id)


def accepted_envelope(line: dict, **established) -> tuple[Envelope, object]:
    e = parse_line(lines(line)[0], now=EPOCH)
    return e.envelope.recorded(EPOCH, **established), e.payload


def set_aside(harness: Harness, event_id: str) -> dict[str, dict]:
    """The parked rows of a forged record, by the stage that set it aside; each names it as
    no record of govshare's."""
    rows = {p["stage"]: p for p in harness.parked() if p["event_id"] == event_id}
    assert rows, f"no stage set {event_id} aside"
    for row in rows.values():
        assert "not govshare's" in row["error"], row
    return rows


def acting_on(harness: Harness, topic: str, envelope: Envelope) -> set[str]:
    """The stages that read `topic` and act on the envelope's type there (the System says):
    those a forgery of it reaches."""
    ce_type = dict(to_headers(envelope))["ce_type"]
    return {name for name in SYSTEM.readers(topic, harness.topics)
            if (wanted := SYSTEM.wanted(name)) is None or ce_type in wanted}


def test_a_forged_registration_is_set_aside_not_catalogued(harness):
    # Given an EntryRegistered written straight to the catalog topic, unsigned
    entry = new_id()
    envelope, payload = accepted_envelope(registered(entry), provider="gd-hrss")
    topic = harness.topics.events("catalog-entry")
    forged = forge(harness, topic, envelope, payload)
    # When a genuine registration follows it
    after = new_id()
    assert answers(harness, registered(after)) == [("accepted", None)]
    # Then the genuine one is catalogued, the forged one is not, and every stage that reads it
    # (the projector and the notary among them) sets it aside where operators see it
    assert in_catalog(harness, after)
    rows = set_aside(harness, forged)
    assert set(rows) == acting_on(harness, topic, envelope) and {"projector", "notary"} <= set(rows)
    assert "unsigned" in rows["projector"]["error"] and rows["projector"]["topic"] == topic
    assert in_catalog(harness, entry) is None
    code, report = health(harness)
    assert code == 1
    assert {s["stage"]: s["parked"] for s in report["stages"]}["projector"] == 1


def test_a_forged_approval_opens_no_grant(harness):
    # Given a genuine conditional request, consulted and agreed, waiting for the authority
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"), request(req, entry, ["I.1"]), *reviewed(req), at=EPOCH)
    # When an approval is written straight to the request topic, signed with a stranger's key
    envelope, payload = accepted_envelope(event("RequestApproved", req, 4, {"comment": "同意"}, **AUTH),
                                          provider="gd-hrss", route="conditional")
    stranger = StageKeys.generated(["validator"]).signer("validator")
    forged = forge(harness, harness.topics.events("share-request"), envelope, payload, signed_by=stranger)
    # Then the grant keeper sets it aside and opens nothing; the request is not approved
    rows = set_aside(harness, forged)
    assert {"grants", "projector"} <= set(rows)
    assert "none of this deployment's stage keys" in rows["grants"]["error"]
    assert [e for e in harness.emitted(sh.GRANT) if e.payload.request_id == req] == []
    assert [g for g in queries.grant_list(harness.engine) if g["request_id"] == req] == []
    [shown] = [r for r in queries.request_list(harness.engine) if r["request_id"] == req]
    assert shown["status"] != "approved"


def test_a_forged_grant_for_no_request_shows_no_grant(harness):
    # Given a GrantOpened written straight to the grant topic for a request that never existed
    req, now = new_id("req"), EPOCH
    grant = str(uuid.uuid4())
    payload = sh.GrantOpened(request_id=req, entry_id=new_id(), grantee="gd-amr", items=("I.1",),
                             purpose="任意", scenario="任意", method=sh.ShareMethod.INTERFACE,
                             valid_until=now + timedelta(days=365))
    envelope = Envelope(event_id=uuid.uuid4(), event_type="GrantOpened", schema_version=1,
                        aggregate_type=sh.GRANT, aggregate_id=grant, sequence=1, occurred_at=now,
                        recorded_at=now, actor=GOVSHARE, policy_id="guangdong-2018",
                        correlation_id=uuid.uuid4(), source="govshare/grants")
    forged = forge(harness, harness.topics.events(sh.GRANT), envelope, payload)
    # Then no grant shows, and the projector set it aside
    assert "projector" in set_aside(harness, forged)
    assert [g for g in queries.grant_list(harness.engine) if g["grant_id"] == grant] == []


def test_a_forged_record_taking_a_sequence_does_not_stop_the_projector(harness):
    # Given a forged registration of an entry at sequence 1, before its genuine registration
    entry = new_id()
    envelope, payload = accepted_envelope(registered(entry, title="伪造的目录"), provider="gd-hrss")
    forged = forge(harness, harness.topics.events("catalog-entry"), envelope, payload)
    assert "projector" in set_aside(harness, forged)
    # When the provider registers it for real, and registers another after it
    after = new_id()
    assert answers(harness, registered(entry), registered(after)) == [("accepted", None)] * 2
    # Then both genuine ones are projected: the forged one took nothing
    shown = in_catalog(harness, entry)
    assert shown and shown["attributes"]["title"] != "伪造的目录"
    assert in_catalog(harness, after)


def forge_checkpoint(harness: Harness) -> str:
    """A TrailCheckpointed on the trail topic that the trail key never signed, placed to hold
    back every checkpoint after it; its ce_id."""
    harness.given(registered(new_id()), at=EPOCH)
    now = EPOCH
    origin = origin_of(harness.topics.prefix)
    with harness.engine.connect() as conn:
        size = conn.scalar(select(func.count()).select_from(trail_entries))
    assert size >= 1
    cp = TrailCheckpointed(origin=origin, previous_size=size + 7, tree_size=size + 1, leaves=(), root_hash=bytes(32),
                           chain_head=bytes(32), signed_at=now, key_id="deadbeef", signature=bytes(64))
    envelope = Envelope(event_id=uuid.uuid4(), event_type="TrailCheckpointed", schema_version=1,
                        aggregate_type="trail", aggregate_id=origin, sequence=1, occurred_at=now,
                        recorded_at=now, actor=Actor(department="govshare", person="notary", role=Role.SYSTEM),
                        policy_id="common", correlation_id=uuid.uuid4(), source="govshare:notary")
    return forge(harness, harness.topics.trail, envelope, cp)


def test_a_forged_checkpoint_does_not_freeze_sealing(harness):
    # Given a checkpoint on the trail topic that the trail key never signed
    forged = forge_checkpoint(harness)
    origin = origin_of(harness.topics.prefix)
    # When a genuine event follows
    [result] = harness.given(registered(new_id()), at=EPOCH + timedelta(seconds=1))
    # Then it is sealed into the trail all the same, and the forgery is set aside and reported
    assert "projector" in set_aside(harness, forged)
    with harness.engine.connect() as conn:
        assert conn.execute(select(trail_entries.c.position)
                            .where(trail_entries.c.record_id == result["event_id"])).first()
    # (what `govshare verify` does, with the trail topic's messages as its anchor)
    settings = harness.sim.settings
    anchor, others = harness.checkpoints()
    assert others == 0 and len(anchor) >= 3
    report = verify(harness.engine, deployment_keys.ring_keys(settings.trail_key_file, origin),
                    now=harness.sim.clock.now(), anchor=anchor)
    assert not report.intact
    bad = [f for f in report.findings if f.problem == "bad-signature" and "trail topic" in f.detail]
    assert bad, report.findings
    assert report.pending == []


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


def _batch(keys: StageKeys, topic: str, n: int) -> list[Outgoing]:
    label = uuid.uuid4().hex
    return keys.signer("validator").sign_batch(
        [Outgoing(topic, f"k{i}".encode(), f"value {i} of {label}".encode(), [("ce_id", f"{label}-{i}".encode())])
         for i in range(n)])


def test_a_batch_is_signed_once_and_each_record_checked_with_hashes():
    topics = Topics("p")
    keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    topic = topics.events("catalog-entry")
    batch = _batch(keys, topic, 7)
    signatures = {dict(out.headers)[SIGNATURE] for out in batch}
    assert len(signatures) == 1, "one signature for the whole batch"
    for offset, out in enumerate(batch):
        assert keys.ring.problem(topic, out.headers, out.value, where=(0, offset)) is None


def test_a_ring_shared_by_the_stages_of_a_process_skips_only_the_very_message_it_passed():
    """notary+projector (one consumer, one ring): the second stage handed the same message
    object is not made to check it again; any other object, even with the same bytes, is."""
    topics = Topics("p")
    keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    ring = StageRing(dict(keys.ring.keys), writers=keys.ring.writers, shared=True)
    topic = topics.events("catalog-entry")
    [out] = _batch(keys, topic, 1)
    ring.check(topic, out.headers, out.value, where=(0, 1))
    assert ring._passed, "remembered for the next stage"
    ring.check(topic, out.headers, out.value, where=(0, 1))
    assert not ring._passed, "the second stage took it"
    # The same header list with other bytes: that is another message, checked and refused.
    ring.check(topic, out.headers, out.value, where=(0, 1))
    with pytest.raises(NotGovshares):
        ring.check(topic, out.headers, b"value X", where=(0, 1))
    # A trail record is handed on for that very message object only.
    records, record = Records(), object()
    first, twin = (sh.GrantRevoked(reason="x"), sh.GrantRevoked(reason="x"))
    records.keep(first, record)
    assert records.take(twin) is None and records.take(first) is record and records.take(first) is None


def test_a_forged_altered_moved_or_reordered_record_of_a_batch_is_refused():
    topics = Topics("p")
    keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    topic = topics.events("catalog-entry")
    first, second = _batch(keys, topic, 5), _batch(keys, topic, 3)
    ring = keys.ring
    # Altered: the value, or a header, after signing.
    assert "not leaf" in ring.problem(topic, first[1].headers, b"value X")
    assert ring.problem(topic, first[1].headers, first[1].value) is None
    altered = [(k, b"9" if k == "ce_id" else v) for k, v in first[1].headers]
    assert "not leaf" in ring.problem(topic, altered, first[1].value)
    # Replayed from another batch: a record presented with another batch's place and signature.
    theirs = dict(second[0].headers)
    moved = [(k, theirs[k] if k in (BATCH, SIGNATURE) else v) for k, v in first[0].headers]
    assert "not leaf" in ring.problem(topic, moved, first[0].value)
    # Forged: a batch signed by a key no stage of the deployment holds.
    stranger = StageKeys.generated(["validator"])
    forged = _batch(stranger, topic, 2)
    assert "none of this deployment's stage keys" in ring.problem(topic, forged[0].headers, forged[0].value)
    # A root signed by the stage, with a signature that is not over it.
    sig = dict(first[0].headers)[SIGNATURE]
    wrong = [(k, base64.b64encode(b"\0" * 64) if k == SIGNATURE else v) for k, v in second[2].headers]
    assert sig and "does not verify over its batch" in ring.problem(topic, wrong, second[2].value)
    # Reordered on a partition: leaf 3 read, then leaf 1 at a later offset.
    fresh = StageKeys(StageRing(dict(keys.ring.keys), writers=keys.ring.writers), keys.signers).ring
    assert fresh.problem(topic, first[3].headers, first[3].value, where=(0, 10)) is None
    assert "reordered" in fresh.problem(topic, first[1].headers, first[1].value, where=(0, 11))
    # ... while a redelivery from an earlier offset reads them again in their order.
    assert fresh.problem(topic, first[1].headers, first[1].value, where=(0, 8)) is None


def test_records_signed_one_by_one_before_batches_still_verify():
    topics = Topics("p")
    keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    topic = topics.events("catalog-entry")
    alone = keys.signer("validator").sign(Outgoing(topic, b"k", b"v", [("ce_id", b"1")]))
    assert BATCH not in dict(alone.headers)
    assert keys.ring.problem(topic, alone.headers, alone.value) is None
    assert "does not verify" in keys.ring.problem(topic, alone.headers, b"w")


def test_a_retried_event_decided_in_a_batch_is_answered_again_and_nothing_is_set_aside(harness):
    """A publisher's retry of one event its batch decided with others is answered with the same
    outputs, signed anew: a reader that read the first batch does not take the answer for a
    record of that batch put out of its place."""
    first, second = registered(new_id(), codes=["R.1"]), registered(new_id(), codes=["R.2"])
    [a, b] = harness.given(first, second, at=EPOCH)
    [again] = harness.when(first, at=EPOCH)
    assert (again["status"], again["event_id"]) == ("accepted", a["event_id"])
    assert harness.parked() == []
    harness.project()
    assert in_catalog(harness, first["aggregate_id"]) and in_catalog(harness, second["aggregate_id"])
