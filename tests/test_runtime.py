"""The runtime: no event freezes a stage, what a stage cannot apply is parked where operators see
it and can be run again, and a killed stage process loses nothing.

On the in-memory harness (tests/harness.py), both databases: the orderings that once froze a
stage, the bounds of the tables and the broker, parking and retrying, records on output topics
that no stage can apply, and accesses reaching the grant keeper before or after their approval
(the race is played out in both orders, deterministically). `govshare health` is read there
in-process, the in-memory log's ends standing in for the broker's high watermarks.

On the real service (`govshare up`, the session's broker), one service for the module:
`test_killing_one_stage_process_loses_nothing` kills a stage's OS process with SIGKILL and
needs the supervisor to start it again and the broker to redeliver what it had not committed;
it also reads `govshare health` against the real broker's high watermarks.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from events.codec import encode_payload, to_headers
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from audit import keys
from infra.submit import submit_lines
from infra.system import SYSTEM
from processors import store as processor_store
from processors.grant_keeper import grant_id
from projections import queries, tables
from runtime import memory, parking
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
from tests.conftest import EPOCH, Service, start_service, wait_for
from tests.harness import Harness

NB = "ningbo-haishu-2021"
NB_PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
NB_USER = dict(department="nb-civil", role="USER", policy=NB)
NB_AUTH = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)


# -- helpers on the harness (tests/test_provenance.py uses them too) ---------------------------

def answers(harness: Harness, *events, at=EPOCH) -> list[tuple[str, str | None]]:
    """Each event's status and rule, as `govshare submit` answers them."""
    return [(r["status"], r.get("rule")) for r in harness.results(*events, at=at)]


def in_catalog(harness: Harness, entry_id: str):
    return queries.entry(harness.engine, entry_id)


def parked(harness: Harness, *extra: str) -> list[dict]:
    """`govshare query parked --json` over the harness's database, as an operator lists them."""
    return json.loads(harness.cli("query", "parked", "--json", *extra).stdout)


def health(harness: Harness) -> tuple[int, dict]:
    """`govshare health --json` (its exit code and report) over the harness's databases, the
    in-memory log's ends standing in for the broker's high watermarks: the parked counts, the
    waiting accesses, the lag and the verdict are govshare's own (infra/health.py)."""
    from infra.cli import operator as cli
    from infra import health as checked
    log = harness.sim.runner.broker.topics
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checked, "bootstrap", lambda settings: "memory:9092")
        mp.setattr(checked, "read_cluster_id", lambda kafka: memory.CLUSTER)
        mp.setattr(checked, "_ends", lambda kafka, names: {(t, 0): len(log[t]) for t in names if t in log})
        shown = io.StringIO()
        with redirect_stdout(shown):
            code = cli._health(argparse.Namespace(json=True), harness.sim.settings)
    return code, json.loads(shown.getvalue())


def signed_by_stage(harness: Harness, stage: str, out: Outgoing) -> Outgoing:
    """An output signed with a stage's own key of this deployment."""
    return keys.stage_signer(harness.sim.settings.stage_key_dir, stage).sign(out)


def correction(objection_id: str, version: str) -> dict:
    return event("ObjectionResolved", objection_id, 2, {
        "outcome": "CORRECTED", "note": "已更正",
        "correction": {"records": ["R-1"], "fields": ["F"], "data_version": version}}, **NB_PROVIDER)


def report(objection_id: str, entry_id: str) -> dict:
    return event("ObjectionReported", objection_id, 1, {
        "entry_id": entry_id, "kind": "ERROR", "records": ["R-1"], "fields": ["F"], "expected": "x"},
        **NB_USER)


# -- orderings that once froze a stage ----------------------------------------------------------

def test_the_sequences_that_froze_a_stage_are_applied_and_later_events_flow(harness):
    # Given a conditional Ningbo entry whose provider is consulted twice on one request (each
    # consultation has a 5-working-day answer limit, Ningbo Art. 17), an entry whose two
    # objections are corrected in one data version, and an entry whose revision id is used again
    # after its rejection
    conditional, req = new_id(), new_id("req")
    nb_entry, first, second = new_id(), new_id("ob"), new_id("ob")
    revised = new_id()
    harness.given(registered(conditional, department="nb-market", policy=NB, codes=["C.1"],
                             share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批",
                             restriction_reason="涉及个人信息"),
                  registered(nb_entry, department="nb-market", policy=NB),
                  registered(revised), at=EPOCH)
    harness.given(request(req, conditional, ["C.1"], policy=NB, user=dict(department="nb-civil", role="USER")),
                  event("ProviderConsulted", req, 2, {}, **NB_AUTH),
                  event("ProviderConsulted", req, 3, {"note": "再次征求意见"}, **NB_AUTH),
                  event("ProviderAnswered", req, 4, {"agrees": True}, **NB_PROVIDER),
                  event("RequestApproved", req, 5, {}, **NB_AUTH),
                  report(first, nb_entry), report(second, nb_entry),
                  correction(first, "2026.11.21"), correction(second, "2026.11.21"),
                  event("RevisionSubmitted", revised, 2, {"revision_id": "r1", "attributes": attributes()}),
                  event("RevisionRejected", revised, 3, {"revision_id": "r1", "reasons": "不完整"}, **AUTH),
                  event("RevisionSubmitted", revised, 4, {"revision_id": "r1", "attributes": attributes(title="v2")}),
                  event("RevisionApproved", revised, 5, {"revision_id": "r1"}, **AUTH), at=EPOCH)
    # When an ordinary event follows
    ordinary = new_id()
    assert answers(harness, registered(ordinary)) == [("accepted", None)]
    # Then it, and everything before it, is in the projections, and no stage parked anything
    engine = harness.engine
    assert in_catalog(harness, ordinary)
    assert in_catalog(harness, revised)["version"] == 2
    assert [r["status"] for r in in_catalog(harness, revised)["revisions"]] == ["rejected", "approved"]
    versions = in_catalog(harness, nb_entry)["data_versions"]
    assert len(versions) == 2 and {v["objection_id"] for v in versions} == {first, second}
    assert [g["request_id"] for g in queries.grant_list(engine, grantee="nb-civil")] == [req]
    answered = [d for d in queries.deadline_list(engine) if d["subject_id"] == req and d["kind"] == "provider-answer"]
    assert len(answered) == 2 and {d["status"] for d in answered} == {"met"}
    assert harness.parked() == []


# -- the bounds of the tables and the broker ------------------------------------------------------

def test_bounds_refuse_what_the_tables_or_the_broker_could_not_hold(harness):
    too_long, with_nul, too_big, fine = new_id() + "x" * 250, new_id(), new_id(), new_id()
    results = answers(harness, registered(too_long), registered(with_nul, title="含\u0000字符"),
                      registered(too_big, description="很长" * 150_000), registered(fine))
    assert results == [("rejected", "value-out-of-bounds"), ("rejected", "value-out-of-bounds"),
                       ("rejected", "message-too-large"), ("accepted", None)]
    assert in_catalog(harness, fine)
    rejected = queries.rejected(harness.engine, rule="value-out-of-bounds")
    assert len(rejected) == 2
    messages = " | ".join(r["message"] for r in rejected)
    assert "envelope.aggregate_id has" in messages and "title holds a control character" in messages
    assert harness.parked() == []


def test_a_record_its_tables_cannot_hold_is_parked_and_later_events_go_on(harness):
    # Given a record on an events topic, signed with the validator's key but past its rules,
    # with an id longer than the tables hold (PostgreSQL refuses it; SQLite stores it)
    forged_id = "forged-" + "x" * 240
    forged = parse_line(lines(registered(forged_id))[0], now=EPOCH)
    harness.sim.publish([signed_by_stage(harness, "validator", Outgoing(
        harness.topics.events("catalog-entry"), forged_id.encode(), encode_payload(forged.payload),
        to_headers(forged.envelope.recorded(EPOCH, provider="gd-hrss"))))], at=EPOCH)
    # When ordinary events follow
    after = new_id()
    assert answers(harness, registered(after)) == [("accepted", None)]
    # Then they are projected, and the forged record is parked or projected, never a stall
    assert in_catalog(harness, after)
    if harness.engine.dialect.name == "postgresql":
        [held] = [p for p in harness.parked() if p["stage"] == "projector"]
        assert held["event_type"] == "govshare.catalog.EntryRegistered" and "DataError" in held["error"]
        assert held["event_id"] == str(forged.envelope.event_id)
        assert in_catalog(harness, forged_id) is None
    else:
        assert in_catalog(harness, forged_id)
        assert harness.parked() == []


# -- a read model that cannot apply an event: parked, listed, retried -----------------------------

@pytest.fixture
def faulty(harness, monkeypatch, tmp_path):
    """The harness with a deployment's own read model (tests/faulty_projection.py) that fails on
    a marked entry until the file `fixed` exists: what GOVSHARE_EXTRA_PROJECTIONS adds."""
    from tests import faulty_projection
    monkeypatch.setenv("GOVSHARE_TEST_FIXED", str(tmp_path / "fixed"))
    projector = SYSTEM.stage("projector")
    harness.restart("projector", lambda w: projector.build(
        replace(w, options={**w.options, "extra": (faulty_projection.project,)})))
    return harness


def test_an_event_a_read_model_cannot_apply_is_parked_listed_and_retried(faulty, tmp_path):
    harness = faulty
    # Given an event one read model fails on, followed by ordinary ones
    marked, after = new_id(), new_id()
    assert answers(harness, registered(marked, title="FAIL-ME 社保"), registered(after)) == [("accepted", None)] * 2
    # Then the others are projected meanwhile, and the failing one is parked where operators see it
    assert in_catalog(harness, after)
    [held] = parked(harness)
    assert (held["stage"], held["status"], held["event_type"]) == ("projector", "parked", "govshare.catalog.EntryRegistered")
    assert "cannot take" in held["error"] and held["attempts"] == 1
    assert in_catalog(harness, marked) is None
    code, report = health(harness)
    assert code == 1 and not report["ok"]
    assert {s["stage"]: s["parked"] for s in report["stages"]} == {
        "validator": 0, "deadlines": 0, "grants": 0, "notary": 0, "projector": 1}
    # When it is retried before the cause is fixed, it stays parked, with one more attempt
    assert parking.request_retry(harness.engine, "projector") == 1
    assert harness.sim.runner.retry_parked() == 0
    [again] = harness.parked()
    assert (again["id"], again["status"], again["attempts"]) == (held["id"], "parked", 2)
    assert in_catalog(harness, marked) is None
    # When the cause is fixed and an operator asks for a retry
    (tmp_path / "fixed").touch()
    marked_for_retry = harness.cli("retry-parked", "--stage", "projector")
    assert marked_for_retry.stdout.startswith("1 parked event(s) marked for a retry")
    assert harness.sim.runner.retry_parked() == 1
    # Then it is applied, in its place in the read model, and no longer listed as parked
    assert in_catalog(harness, marked)["attributes"]["title"] == "FAIL-ME 社保"
    assert harness.parked() == []
    assert [(p["id"], p["status"]) for p in parked(harness, "--all")] == [(held["id"], "done")]
    assert health(harness)[0] == 0
    # And with nothing parked, a retry marks nothing
    assert parking.request_retry(harness.engine, "projector") == 0


# -- accesses published right after their approval ------------------------------------------------

def access(access_id: str, entry: str, grant_named: str) -> dict:
    return event("DataAccessed", access_id, 1, {
        "grant_id": grant_named, "entry_id": entry, "items": ["C.1"], "purpose": "企业开办审批",
        "recipient": "gd-amr", "person": "sys-01", "method": "INTERFACE", "scenario": "一网通办"},
        department="gd-amr", role="USER")


def waiting(harness: Harness) -> list[str]:
    with harness.engine.connect() as conn:
        return sorted(conn.scalars(select(processor_store.waiting_accesses.c.access_id)))


@pytest.mark.parametrize("order", ["approval-first", "accesses-first"])
def test_accesses_published_right_after_their_approval_are_judged_against_it(harness, order):
    """The review, the approval and the accesses under it are published at once; they reach the
    grant keeper on two topics in no fixed order. Both orders are played out: the approval
    first, and the accesses first (the approval, decided before them, delayed on its way)."""
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["C.1"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"), at=EPOCH)
    grant = grant_id(req)
    accesses = [new_id("acc") for _ in range(20)]
    stray = new_id("acc")
    review = [request(req, entry, ["C.1"]), event("ProviderConsulted", req, 2, {}, **AUTH),
              event("ProviderAnswered", req, 3, {"agrees": True}, **PROVIDER)]
    decided = EPOCH + timedelta(seconds=1)
    approval = event("RequestApproved", req, 4, {}, **AUTH)
    used = [*(access(a, entry, grant) for a in accesses), access(stray, entry, "no-such-grant")]
    # When the accesses, made after the approval, are published with it (one access naming a
    # grant that no request will ever open)
    harness.given(*review, at=EPOCH)
    if order == "approval-first":
        harness.given(approval, *used, at=decided)
        assert waiting(harness) == [stray]
    else:
        published = decided + timedelta(seconds=1)
        harness.given(*({**u, "occurred_at": published.isoformat()} for u in used), at=published)
        assert waiting(harness) == sorted(accesses + [stray]), "none judged before the decision"
        harness.given({**approval, "occurred_at": decided.isoformat()}, at=published + timedelta(seconds=1))
        assert waiting(harness) == [stray]
    # Then none of those under the grant is flagged, and the stray is not flagged while it waits
    assert queries.access_list(harness.engine, violations_only=True) == []
    wait = harness.grants.access_wait
    harness.advance(EPOCH + wait)
    assert queries.access_list(harness.engine, violations_only=True) == []
    # And once its wait is over, it is flagged: no grant
    harness.advance(EPOCH + wait + timedelta(seconds=3))
    flagged = queries.access_list(harness.engine, violations_only=True)
    assert [(a["access_id"], json.loads(a["violations"])) for a in flagged] == [(stray, ["no-grant"])]
    assert waiting(harness) == []
    assert len(queries.access_list(harness.engine)) == 21
    code, report = health(harness)
    grants_stage = {s["stage"]: s for s in report["stages"]}["grants"]
    assert (code, grants_stage["lag"], grants_stage["waiting"]) == (0, 0, 0)


# -- through the real service: a killed stage process -----------------------------------------

def submit(service: Service, *events) -> list[tuple[str, str | None]]:
    return [(r["status"], r.get("rule")) for r in
            submit_lines(lines(*events), service.kafka, service.topics, timeout=90)]


def cli(service: Service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


def _stage_pid(service: Service, stage: str) -> int:
    """The process that runs `stage` (alone, or with others as `notary+projector`)."""
    spawned = re.findall(r"stage\.spawned\b.*?pid=(\d+) stage=(\S+)", service.log.read_text(errors="replace"))
    return int([pid for pid, name in spawned if stage in name.partition("#")[0].split("+")][-1])


@pytest.fixture(scope="module")
def supervised(broker, tmp_path_factory):
    """One `govshare up` (its own SQLite database) whose stage processes the tests kill."""
    running = start_service(tmp_path_factory.mktemp("supervised"), {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    yield running
    running.stop()


@pytest.mark.parametrize("stage", ["validator", "projector"])
def test_killing_one_stage_process_loses_nothing(supervised, stage):
    service = supervised
    before = [new_id() for _ in range(5)]
    assert submit(service, *(registered(e) for e in before)) == [("accepted", None)] * 5
    victim = _stage_pid(service, stage)
    os.kill(victim, signal.SIGKILL)
    after = [new_id() for _ in range(5)]
    assert submit(service, *(registered(e) for e in after)) == [("accepted", None)] * 5
    engine = service.engine()
    wait_for(lambda: all(queries.entry(engine, e) for e in before + after), 90, "all ten entries")
    assert _stage_pid(service, stage) != victim, "the supervisor started the stage again"
    with engine.connect() as conn:
        logged = conn.scalar(select(func.count()).select_from(tables.event_log).where(
            tables.event_log.c.aggregate_id.in_(before + after)))
    assert logged == 10

    # And `govshare health`, against the broker's high watermarks, finds every stage caught up
    # and nothing parked.
    def caught_up():
        done = cli(service, "health", "--json")
        report = json.loads(done.stdout) if done.stdout else None
        return done.returncode == 0 and report["ok"] and all(s["lag"] == 0 for s in report["stages"]) and report
    report = wait_for(caught_up, 60, "every stage caught up")
    assert {s["stage"]: s["parked"] for s in report["stages"]} == dict.fromkeys(SYSTEM.names, 0)


# -- one consumer for the stages of a process ---------------------------------------------------

def test_a_shared_consumer_starts_each_partition_where_the_furthest_behind_of_its_readers_stands(tmp_path):
    from confluent_kafka import OFFSET_BEGINNING
    from sqlalchemy import insert
    from infra.database import make_engine
    from runtime import loop, store as runtime_store

    class Positioned:  # what `starts` asks of a stage: its name and its database
        def __init__(self, name: str):
            self.name, self.engine = name, make_engine(f"sqlite:///{tmp_path / name}.db")
            runtime_store.metadata.create_all(self.engine)

    def at(stage: Positioned, **offsets: int) -> None:
        with stage.engine.begin() as tx:
            for where, offset in offsets.items():
                topic, partition = where.rsplit("_", 1)
                tx.execute(insert(runtime_store.positions), dict(stage=stage.name, cluster_id="c", topic=topic,
                                                                 partition=int(partition), next_offset=offset))

    notary, projector = Positioned("notary"), Positioned("projector")
    at(notary, log_0=40, log_1=7)
    at(projector, log_0=25, trail_0=3)  # it has not read log_1 yet
    runners = [loop.Runner(notary, "c", reads=lambda t: t != "trail"), loop.Runner(projector, "c")]
    # log_0: the projector is behind; log_1: the projector never read it; the trail: the notary
    # does not read it, so the projector's position alone counts (not a re-read from the start).
    assert loop.starts(runners, "c") == {("log", 0): 25, ("log", 1): OFFSET_BEGINNING, ("trail", 0): 3}


def test_a_stage_with_nothing_gathered_takes_its_message_while_another_gathers_for_longer(broker, tmp_path):
    """One consumer serves the stages of a process. The notary gathers for its checkpoint
    interval; the projector, which had just applied its batch, must not wait out that interval
    for the next message (it did: every event waited for the notary's window, 0.5 s at p50)."""
    import threading
    import time
    from confluent_kafka.admin import AdminClient, NewTopic
    from infra.database import make_engine
    from runtime import loop, store as runtime_store
    from tests.conftest import wait_for

    class Recording:  # what the runtime asks of a stage, applying nothing but a list
        outbox, ring = None, None

        def __init__(self, name: str):
            self.name, self.applied = name, []
            self.engine = make_engine(f"sqlite:///{tmp_path / name}.db")
            runtime_store.metadata.create_all(self.engine)

        def start(self) -> None:
            pass

        def decode(self, m):
            return m.value

        def apply(self, tx, batch):
            self.applied += [value for _, value in batch]
            return []

    topic = f"gather-{uuid.uuid4().hex[:8]}"
    kafka = {"bootstrap.servers": broker.bootstrap}
    admin = AdminClient(kafka)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(10)
    slow, quick = Recording("slow"), Recording("quick")
    runners = [loop.Runner(slow, "c", batch=2000, window=60.0), loop.Runner(quick, "c", batch=500, window=0.01)]
    consumer = loop.assigned(kafka, f"g-{topic}", [topic], runners, "c")
    stop = threading.Event()
    thread = threading.Thread(target=loop.run_together, args=(runners, consumer, stop), daemon=True)
    thread.start()
    publisher = Publisher(kafka)
    try:
        publisher.publish([Outgoing(topic, b"k", b"first", [])])
        wait_for(lambda: quick.applied == [b"first"], timeout=15, what="the quick stage's first message")
        sent = time.monotonic()
        publisher.publish([Outgoing(topic, b"k", b"second", [])])
        wait_for(lambda: quick.applied == [b"first", b"second"], timeout=15,
                 what="the quick stage's second message, while the slow one still gathers")
        assert time.monotonic() - sent < 5, "taken when it landed, not at the end of the slow stage's window"
        assert slow.applied == [], "the slow stage is still gathering its window"
    finally:
        stop.set()
        thread.join(10)
        publisher.close()
