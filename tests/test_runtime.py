"""The runtime through the real service: no event freezes a stage, what a stage cannot apply is
parked and can be run again, and a killed stage process loses nothing."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from events.codec import encode_payload, to_headers
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from infra import keys
from infra.submit import submit_lines
from projections import queries, tables
from tests.builders import (
    AUTH,
    LAW,
    PROVIDER,
    attributes,
    event,
    lines,
    new_id,
    registered,
    request,
)
from tests.conftest import Service, start_service, wait_for

NB = "ningbo-haishu-2021"
NB_PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
NB_USER = dict(department="nb-civil", role="USER", policy=NB)
NB_AUTH = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)


def submit(service: Service, *events) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("rule")) for r in
            submit_lines(lines(*events), service.kafka, service.topics, timeout=90)]


def cli(service: Service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


def parked(service: Service, *extra: str) -> list[dict]:
    done = cli(service, "query", "parked", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def in_catalog(service: Service, entry_id: str):
    return queries.entry(service.engine(), entry_id)


def correction(objection_id: str, version: str) -> dict:
    return event("ObjectionResolved", objection_id, 2, {
        "outcome": "CORRECTED", "note": "已更正",
        "correction": {"records": ["R-1"], "fields": ["F"], "data_version": version}}, **NB_PROVIDER)


def report(objection_id: str, entry_id: str) -> dict:
    return event("ObjectionReported", objection_id, 1, {
        "entry_id": entry_id, "kind": "ERROR", "records": ["R-1"], "fields": ["F"], "expected": "x"},
        **NB_USER)


def test_the_sequences_that_froze_a_stage_are_applied_and_later_events_flow(service):
    # Given a conditional Ningbo entry whose provider is consulted twice on one request (each
    # consultation has a 5-working-day answer limit, Ningbo Art. 17), an entry whose two
    # objections are corrected in one data version, and an entry whose revision id is used again
    # after its rejection
    conditional, req = new_id(), new_id("req")
    nb_entry, first, second = new_id(), new_id("ob"), new_id("ob")
    revised = new_id()
    assert submit(service,
                  registered(conditional, department="nb-market", policy=NB, codes=["C.1"],
                             share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批",
                             restriction_reason="涉及个人信息"),
                  registered(nb_entry, department="nb-market", policy=NB),
                  registered(revised)) == [("accepted", None)] * 3
    assert submit(service,
                  request(req, conditional, ["C.1"], policy=NB, user=dict(department="nb-civil", role="USER")),
                  event("ProviderConsulted", req, 2, {}, **NB_AUTH),
                  event("ProviderConsulted", req, 3, {"note": "再次征求意见"}, **NB_AUTH),
                  event("ProviderAnswered", req, 4, {"agrees": True}, **NB_PROVIDER),
                  event("RequestApproved", req, 5, {}, **NB_AUTH),
                  report(first, nb_entry), report(second, nb_entry),
                  correction(first, "2026.11.21"), correction(second, "2026.11.21"),
                  event("RevisionSubmitted", revised, 2, {"revision_id": "r1", "attributes": attributes()}),
                  event("RevisionRejected", revised, 3, {"revision_id": "r1", "reasons": "不完整"}, **AUTH),
                  event("RevisionSubmitted", revised, 4, {"revision_id": "r1", "attributes": attributes(title="v2")}),
                  event("RevisionApproved", revised, 5, {"revision_id": "r1"}, **AUTH),
                  ) == [("accepted", None)] * 13
    # When an ordinary event follows
    ordinary = new_id()
    assert submit(service, registered(ordinary)) == [("accepted", None)]
    # Then it, and everything before it, is in the projections, and no stage parked anything
    engine = service.engine()
    wait_for(lambda: in_catalog(service, ordinary), 60, "the ordinary entry")
    wait_for(lambda: (e := in_catalog(service, revised)) and e["version"] == 2, 60, "the approved revision")
    assert [r["status"] for r in in_catalog(service, revised)["revisions"]] == ["rejected", "approved"]
    versions = wait_for(lambda: len(in_catalog(service, nb_entry)["data_versions"]) == 2
                        and in_catalog(service, nb_entry)["data_versions"], 60, "both corrections")
    assert {v["objection_id"] for v in versions} == {first, second}
    wait_for(lambda: queries.grant_list(engine, grantee="nb-civil") and
             [d for d in queries.deadline_list(engine) if d["subject_id"] == req and d["kind"] == "provider-answer"
              and d["status"] == "met"], 60, "the grant and the answered consultations")
    answers = [d for d in queries.deadline_list(engine) if d["subject_id"] == req and d["kind"] == "provider-answer"]
    assert len(answers) == 2 and {d["status"] for d in answers} == {"met"}
    assert parked(service) == []


def test_bounds_refuse_what_the_tables_or_the_broker_could_not_hold(service):
    too_long, with_nul, too_big, fine = new_id() + "x" * 250, new_id(), new_id(), new_id()
    results = submit(service, registered(too_long), registered(with_nul, title="含\u0000字符"),
                     registered(too_big, description="很长" * 150_000), registered(fine))
    assert results == [("rejected", "value-out-of-bounds"), ("rejected", "value-out-of-bounds"),
                       ("rejected", "message-too-large"), ("accepted", None)]
    wait_for(lambda: in_catalog(service, fine), 60, "the entry after them")
    rejected = wait_for(lambda: len(found := queries.rejected(service.engine(), rule="value-out-of-bounds")) == 2
                        and found, 60, "both rejections")
    messages = " | ".join(r["message"] for r in rejected)
    assert "envelope.aggregate_id has" in messages and "title holds a control character" in messages
    assert parked(service) == []


def test_a_record_its_tables_cannot_hold_is_parked_and_later_events_go_on(service):
    # Given a record on an events topic, signed with the validator's key but past its rules,
    # with an id longer than the tables hold (PostgreSQL refuses it; SQLite stores it)
    forged_id = "forged-" + "x" * 240
    now = datetime.now(timezone.utc)
    forged = parse_line(lines(registered(forged_id))[0], now=now)
    validator_key = keys.stage_signer(service.settings.stage_key_dir, "validator")
    Publisher(service.kafka).publish([validator_key.sign(Outgoing(
        service.topics.events("catalog-entry"), forged_id.encode(), encode_payload(forged.payload),
        to_headers(forged.envelope.recorded(now, provider="gd-hrss"))))])
    # When ordinary events follow
    after = new_id()
    assert submit(service, registered(after)) == [("accepted", None)]
    # Then they are projected, and the forged record is parked or projected, never a stall
    wait_for(lambda: in_catalog(service, after), 60, "the entry after it")
    if service.engine().dialect.name == "postgresql":
        found = wait_for(lambda: parked(service, "--stage", "projector"), 30, "the parked record")
        assert found[0]["event_type"] == "govshare.catalog.EntryRegistered" and "DataError" in found[0]["error"]
    else:
        assert in_catalog(service, forged_id)


@pytest.fixture
def faulty_service(broker, database_url, tmp_path):
    running = start_service(tmp_path, {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_DATABASE_URL": database_url,
        "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "GOVSHARE_EXTRA_PROJECTIONS": "tests.faulty_projection:project",
        "GOVSHARE_TEST_FIXED": str(tmp_path / "fixed")})
    yield running
    running.stop()


def test_an_event_a_read_model_cannot_apply_is_parked_listed_and_retried(faulty_service, tmp_path):
    service = faulty_service
    # Given an event one read model fails on, followed by ordinary ones
    marked, after = new_id(), new_id()
    assert submit(service, registered(marked, title="FAIL-ME 社保"), registered(after)) == [("accepted", None)] * 2
    # Then the others are projected meanwhile, and the failing one is parked where operators see it
    wait_for(lambda: in_catalog(service, after), 60, "the entry after the failing one")
    [held] = wait_for(lambda: parked(service), 30, "the parked event")
    assert (held["stage"], held["status"], held["event_type"]) == ("projector", "parked", "govshare.catalog.EntryRegistered")
    assert "cannot take" in held["error"]
    assert in_catalog(service, marked) is None
    done = cli(service, "health", "--json")
    assert done.stdout, done.stderr
    health = json.loads(done.stdout)
    assert not health["ok"] and {s["stage"]: s["parked"] for s in health["stages"]}["projector"] == 1
    # When the cause is fixed and an operator asks for a retry
    (tmp_path / "fixed").touch()
    done = cli(service, "retry-parked", "--stage", "projector")
    assert done.returncode == 0, done.stdout + done.stderr
    # Then it is applied, in its place in the read model, and no longer listed as parked
    wait_for(lambda: in_catalog(service, marked), 30, "the retried event")
    assert parked(service) == []
    assert [p["status"] for p in parked(service, "--all")] == ["done"]


def _stage_pid(service: Service, stage: str) -> int:
    spawned = re.findall(r"stage\.spawned\b.*?pid=(\d+) stage=(\w+)", service.log.read_text(errors="replace"))
    return int([pid for pid, name in spawned if name == stage][-1])


@pytest.mark.parametrize("stage", ["validator", "projector"])
def test_killing_one_stage_process_loses_nothing(broker, tmp_path, stage):
    service = start_service(tmp_path, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                       "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        before = [new_id() for _ in range(5)]
        assert submit(service, *(registered(e) for e in before)) == [("accepted", None)] * 5
        victim = _stage_pid(service, stage)
        os.kill(victim, signal.SIGKILL)
        after = [new_id() for _ in range(5)]
        assert submit(service, *(registered(e) for e in after)) == [("accepted", None)] * 5
        engine = service.engine()
        wait_for(lambda: all(in_catalog(service, e) for e in before + after), 90, "all ten entries")
        assert _stage_pid(service, stage) != victim, "the supervisor started the stage again"
        with engine.connect() as conn:
            logged = conn.scalar(select(func.count()).select_from(tables.event_log).where(
                tables.event_log.c.aggregate_id.in_(before + after)))
        assert logged == 10
    finally:
        service.stop()


def test_accesses_published_right_after_their_approval_are_judged_against_it(broker, database_url, tmp_path):
    # Given a service where an access waits at most 2 s for its request's decision
    service = start_service(tmp_path, {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_DATABASE_URL": database_url,
        "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}", "GOVSHARE_ACCESS_WAIT_SECONDS": "2"})
    try:
        entry, req = new_id(), new_id("req")
        assert submit(service, registered(entry, codes=["C.1"], share_type="CONDITIONAL", legal_basis=LAW,
                                          share_conditions="仅限审批")) == [("accepted", None)]
        from processors.grants import grant_id
        grant = grant_id(req)
        accesses = [new_id("acc") for _ in range(20)]
        stray = new_id("acc")

        def access(access_id, grant_named):
            return event("DataAccessed", access_id, 1, {
                "grant_id": grant_named, "entry_id": entry, "items": ["C.1"], "purpose": "企业开办审批",
                "recipient": "gd-amr", "person": "sys-01", "method": "INTERFACE", "scenario": "一网通办"},
                department="gd-amr", role="USER")
        # When the review, the approval and the accesses under it are published at once (they
        # reach the grant keeper on two topics, in no fixed order), with one access naming a
        # grant that no request will ever open
        results = submit(service, request(req, entry, ["C.1"]), event("ProviderConsulted", req, 2, {}, **AUTH),
                         event("ProviderAnswered", req, 3, {"agrees": True}, **PROVIDER),
                         event("RequestApproved", req, 4, {}, **AUTH),
                         *(access(a, grant) for a in accesses), access(stray, "no-such-grant"))
        assert results == [("accepted", None)] * 25
        # Then the stray access is flagged once its wait is over, and none of the others is
        engine = service.engine()
        flagged = wait_for(lambda: queries.access_list(engine, violations_only=True), 60, "the stray flagged")
        assert [(a["access_id"], json.loads(a["violations"])) for a in flagged] == [(stray, ["no-grant"])]

        def all_judged():
            health = json.loads(cli(service, "health", "--json").stdout)
            grants_stage = {s["stage"]: s for s in health["stages"]}["grants"]
            return grants_stage["lag"] == 0 and grants_stage["waiting"] == 0
        wait_for(all_judged, 60, "the grant keeper to judge every access")
        assert len(queries.access_list(engine)) == 21
        assert [a["access_id"] for a in queries.access_list(engine, violations_only=True)] == [stray]
    finally:
        service.stop()
