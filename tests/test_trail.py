"""The audit trail: a full scenario's trail verifies; tampering of each kind is found and
located; proofs check offline; a replay as of a past instant shows what stood then."""
from __future__ import annotations

import base64
import csv
import hashlib
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, insert, select, text

from events import merkle, note
from events.codec import decode_record, encode_payload, to_headers
from events.provenance import StageKeys
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from events.topics import Topics
from events import trail as tr
from events.trail import Keys, check_proof
from infra.anchor import signed_checkpoints
from infra import keys
from infra.database import make_engine
from infra.submit import submit_lines
from infra.topics import ensure_topics
from infra.system import SYSTEM
from migrations.upgrade import migrate_url
from processors.clock import FixedClock
from runtime.loop import Runner
from runtime.message import Incoming
from processors.notary import Notary, Signer
from projections import queries
from projections.runner import Projector, catch_up
from projections.tables import (
    APPEND_ONLY,
    dead_letters,
    event_log,
    grants,
    rejections,
    share_requests,
    trail_checkpoints,
    trail_entries,
    trail_pending,
)
from projections.trail import steps
from projections.verification import checkpoint_of_file, verify
from tests.builders import (
    LAW,
    USER,
    approved,
    event,
    lines,
    new_id,
    registered,
    request,
    reviewed,
)
from tests.conftest import Service, start_service, wait_for
from tests.tampering import cut_newest_checkpoint, flip_a_byte, forge_like, rehash_from


@dataclass
class Scenario:
    service: Service
    entry: str
    first: str  # a request approved first
    second: str  # and one approved after it
    between: datetime  # an instant between the two approvals
    public_key: bytes


def cli(service: Service, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env, input=stdin,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def recorded_at(engine, aggregate_id: str, event_type: str) -> datetime:
    with engine.connect() as conn:
        return conn.scalar(select(event_log.c.recorded_at).where(
            event_log.c.aggregate_id == aggregate_id, event_log.c.event_type == event_type))


def trail_complete(engine, key: bytes):
    """The trail covers every record projected so far and verifies: the notary caught up."""
    report = verify(engine, key)
    with engine.connect() as conn:
        records = (conn.scalar(select(func.count()).select_from(event_log))
                   + conn.scalar(select(func.count()).select_from(dead_letters)))
    return report if report.intact and not report.pending and report.tree_size == records else None


def run_scenario(service: Service) -> Scenario:
    """A conditional entry, a rejected registration, a dead letter, and two requests reviewed
    together and approved one after the other, with a rejected approval attempt in between."""
    entry, first, second = new_id(), new_id("req"), new_id("req")
    engine = service.engine()

    def submit(*events):
        return [r["status"] for r in submit_lines(lines(*events), service.kafka, service.topics, 60)]

    assert submit(registered(entry, codes=["I.1", "I.2"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"),
                  registered(new_id(), share_type="CONDITIONAL")) == ["accepted", "rejected"]
    Publisher(service.kafka).publish([Outgoing(service.topics.inbox("catalog-entry"), b"x",
                                               b"\x00\xffnot an event", [])])
    assert submit(request(first, entry), *reviewed(first), request(second, entry),
                  *reviewed(second)) == ["accepted"] * 6
    assert submit(approved(first)) == ["accepted"]
    wait_for(lambda: recorded_at(engine, first, "RequestApproved"), 30, "the first approval projected")
    assert submit(event("RequestApproved", first, 5, {"comment": "again"}, **USER)) == ["rejected"]
    assert submit(approved(second)) == ["accepted"]
    wait_for(lambda: len(queries.grant_list(engine)) == 2, 30, "both grants projected")
    one, two = recorded_at(engine, first, "RequestApproved"), recorded_at(engine, second, "RequestApproved")
    assert one < two
    key = keys.load(Path(service.env["GOVSHARE_HOME"]) / "trail-key.pem").public_key
    wait_for(lambda: trail_complete(engine, key), 30, "the notary to sign everything")
    return Scenario(service, entry, first, second, one + (two - one) / 2, key)


@pytest.fixture(scope="module")
def scenario(broker, tmp_path_factory):
    home = tmp_path_factory.mktemp("trail")
    service = start_service(home, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                   "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        yield run_scenario(service)
    finally:
        service.stop()


def test_a_full_scenario_trail_verifies(scenario):
    done = cli(scenario.service, "verify", "--json")
    report = json.loads(done.stdout)
    assert report["intact"] and report["findings"] == [] and report["pending"] == []
    with scenario.service.engine().connect() as conn:
        kinds = dict(conn.execute(select(trail_entries.c.kind, func.count()).group_by(trail_entries.c.kind)).all())
    assert kinds["REJECTED"] == 2 and kinds["DEAD_LETTERED"] == 1 and kinds["ACCEPTED"] >= 10
    assert report["tree_size"] == sum(kinds.values())


def tampered_copy(scenario: Scenario, tmp_path):
    """The trail rebuilt from the log into a database of its own, with the append-only guard
    dropped, as an intruder with the database's owner rights would."""
    engine = scenario.service.rebuild(f"sqlite:///{tmp_path / 'copy.db'}")
    assert verify(engine, scenario.public_key).intact
    with engine.begin() as tx:
        for table in APPEND_ONLY:
            tx.execute(text(f"DROP TRIGGER {table.name}_no_update"))
            tx.execute(text(f"DROP TRIGGER {table.name}_no_delete"))
    return engine


def middle_event(engine, share: float = 0.5):
    with engine.connect() as conn:
        size = conn.scalar(select(func.count()).select_from(trail_entries))
        return conn.execute(select(trail_entries).where(
            trail_entries.c.kind == "ACCEPTED", trail_entries.c.position >= int(size * share))
            .order_by(trail_entries.c.position).limit(1)).one()


def first_finding(engine, key):
    report = verify(engine, key)
    assert not report.intact
    return report.findings[0]


def test_one_changed_byte_is_found_at_its_position(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        flip_a_byte(tx, target.record_id)
    found = first_finding(engine, scenario.public_key)
    assert (found.problem, found.position, found.record_id) == ("altered", target.position, target.record_id)


def test_a_deleted_record_is_found_at_its_position(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        tx.execute(event_log.delete().where(event_log.c.event_id == target.record_id))
        tx.execute(trail_entries.delete().where(trail_entries.c.position == target.position))
    found = first_finding(engine, scenario.public_key)
    assert (found.problem, found.position) == ("deleted", target.position)


def test_an_inserted_event_is_found_by_its_id(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    model = middle_event(engine)
    with engine.begin() as tx:
        at = tx.scalar(select(event_log.c.recorded_at).where(event_log.c.event_id == model.record_id))
        # Backdated, as a forger would, to pass for history the notary should have signed.
        forged_id = forge_like(tx, model.record_id, at - timedelta(days=1))
    found = first_finding(engine, scenario.public_key)
    assert (found.problem, found.record_id) == ("inserted", forged_id)


def test_two_swapped_records_are_found_at_the_first(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    a, b = middle_event(engine, 0.3), middle_event(engine, 0.7)
    assert a.position < b.position
    with engine.begin() as tx:
        move = trail_entries.update()
        tx.execute(move.where(trail_entries.c.position == a.position).values(position=-1))
        tx.execute(move.where(trail_entries.c.position == b.position).values(position=a.position))
        tx.execute(move.where(trail_entries.c.position == -1).values(position=b.position))
    found = first_finding(engine, scenario.public_key)
    assert (found.problem, found.position, found.record_id) == ("reordered", a.position, b.record_id)


def test_a_rewritten_entry_with_consistent_hashes_fails_the_signed_root(scenario, tmp_path):
    """An intruder who also rewrites the leaf and the chain still cannot forge the signature."""
    engine = tampered_copy(scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        rehash_from(tx, target.position, flip_a_byte(tx, target.record_id))
    report = verify(engine, scenario.public_key)
    [mismatch, *_] = [f for f in report.findings if f.problem == "checkpoint-mismatch"]
    assert mismatch.position <= target.position < int(mismatch.detail.split("signed at ")[1].split(":")[0])
    # Where the flipped byte lies in the envelope, the columns beside it name the record too.
    assert all(f.position == target.position for f in report.findings if f.problem != "checkpoint-mismatch")


def test_an_inclusion_proof_verifies_offline_and_a_forged_one_does_not(scenario, tmp_path):
    svc = scenario.service
    approval = [s for s in json.loads(cli(svc, "trail", "--aggregate", scenario.first, "--json",
                                          "--no-state").stdout)
                if s["what"]["event_type"] == "RequestApproved" and s["kind"] == "ACCEPTED"][0]
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(cli(svc, "prove", approval["event_id"]).stdout)
    assert "VALID" in cli(svc, "verify-proof", str(proof_file)).stdout
    proof = json.loads(proof_file.read_text())
    assert check_proof(proof, scenario.public_key) == []

    # A forged event: the same envelope saying something else, with its own, honest leaf hash.
    record = base64.b64decode(proof["record"])
    forged = record.replace("同意".encode(), "驳回".encode())
    assert forged != record
    lie = proof | {"record": base64.b64encode(forged).decode(), "leaf_hash": merkle.leaf_hash(forged).hex()}
    (tmp_path / "forged.json").write_text(json.dumps(lie))
    done = cli(svc, "verify-proof", str(tmp_path / "forged.json"), check=False)
    assert done.returncode == 1 and "audit path does not lead" in done.stdout
    other_key = keys.public_key_text(keys.load_or_create(tmp_path / "other.pem"))
    done = cli(svc, "verify-proof", str(proof_file), "--public-key", other_key, check=False)
    assert done.returncode == 1 and "not the pinned key" in done.stdout


def test_a_relabelled_proof_is_invalid_and_names_the_field(scenario, tmp_path):
    """A proof binds what it names to the bytes it proves: relabelling it as the proof of
    another record, kind, position or tree, or under another tree's checkpoint, is refused."""
    svc = scenario.service
    steps_ = json.loads(cli(svc, "trail", "--aggregate", scenario.first, "--json", "--no-state").stdout)
    accepted = [s for s in steps_ if s["kind"] == "ACCEPTED"]
    proven, other = accepted[-1], accepted[0]
    proof = json.loads(cli(svc, "prove", proven["event_id"]).stdout)
    other_proof = json.loads(cli(svc, "prove", other["event_id"]).stdout)
    assert check_proof(proof, scenario.public_key) == []
    valid = cli(svc, "verify-proof", "-", check=False, stdin=json.dumps(proof))
    assert valid.stdout.startswith(f"VALID: {proven['event_id']} (ACCEPTED) is leaf {proof['leaf_index']}")

    # A checkpoint of another tree: a later, larger one, signed by the same key.
    assert submit_lines(lines(registered(new_id())), svc.kafka, svc.topics, 60)[0]["status"] == "accepted"
    later_proof = wait_for(lambda: (p := json.loads(cli(svc, "prove", proven["event_id"]).stdout))
                           ["tree_size"] > proof["tree_size"] and p, 60, "a later checkpoint")
    relabelled = {
        "record_id": proof | {"record_id": other["event_id"]},
        "kind": proof | {"kind": "REJECTED"},
        "leaf_index": proof | {"leaf_index": other_proof["leaf_index"]},
        "tree_size": proof | {"tree_size": proof["tree_size"] + 1},
        "checkpoint": proof | {"checkpoint": later_proof["checkpoint"]},
    }
    for field, lie in relabelled.items():
        done = cli(svc, "verify-proof", "-", check=False, stdin=json.dumps(lie))
        assert done.returncode == 1 and done.stdout.startswith("INVALID"), (field, done.stdout)
        assert f"{field}" in done.stdout.split("INVALID: ", 1)[1], (field, done.stdout)
        assert check_proof(lie, scenario.public_key), field
    # Both labels at once, as a forger would change them: still the record's own id is named.
    both = proof | {"record_id": other["event_id"], "leaf_index": other_proof["leaf_index"]}
    done = cli(svc, "verify-proof", "-", check=False, stdin=json.dumps(both))
    assert done.returncode == 1 and proven["event_id"] in done.stdout


def test_a_replay_as_of_a_time_between_two_approvals_shows_the_first_only(scenario, tmp_path):
    url = f"sqlite:///{tmp_path / 'then.db'}"
    cli(scenario.service, "replay", "--as-of", scenario.between.isoformat(), "--into", url)
    with make_engine(url).connect() as conn:
        status = dict(conn.execute(select(share_requests.c.request_id, share_requests.c.status)).all())
        granted = set(conn.scalars(select(grants.c.request_id)))
        latest = conn.scalar(select(func.max(event_log.c.recorded_at)))
    assert status[scenario.first] == "granted" and scenario.first in granted
    assert status[scenario.second] == "pending" and scenario.second not in granted
    assert latest.replace(tzinfo=None) <= scenario.between.replace(tzinfo=None)


def test_a_request_s_trail_says_who_what_when_why_and_the_state_after(scenario):
    steps = json.loads(cli(scenario.service, "trail", "--aggregate", scenario.first, "--json").stdout)
    assert [s["what"]["event_type"] for s in steps] == [
        "RequestSubmitted", "ProviderConsulted", "ProviderAnswered", "RequestApproved", "EventRejected"]
    assert [s["position"] for s in steps] == sorted(s["position"] for s in steps)
    assert [s["state_after"]["status"] for s in steps[:4]] == ["pending", "pending", "pending", "granted"]
    submitted, rejected = steps[0], steps[-1]
    assert submitted["who"] | {"signing_key": None} == {"department": "gd-amr", "person": "li.ming", "role": "USER",
                                                      "signing_key": None}
    assert submitted["who"]["signing_key"], "the department key it came signed with"
    assert submitted["when"]["recorded_at"] and submitted["why"]["correlation_id"]
    assert rejected["kind"] == "REJECTED" and rejected["why"]["rule"] and rejected["why"]["article"]
    by_authority = json.loads(cli(scenario.service, "trail", "--department", "gd-authority",
                                  "--no-state", "--json").stdout)
    assert {s["what"]["event_type"] for s in by_authority} == {"ProviderConsulted", "RequestApproved"}
    text_out = cli(scenario.service, "trail", "--aggregate", scenario.first).stdout
    assert "who: gd-amr/li.ming (USER)" in text_out and '"status": "granted"' in text_out


def test_a_department_s_refused_attempts_are_listed_by_department_and_by_person(scenario):
    """The scenario's gd-amr user tried to approve its own request: the validator refused it,
    and the refusal is found under who tried, with its rule and article."""
    svc = scenario.service
    by_amr = json.loads(cli(svc, "trail", "--department", "gd-amr", "--no-state", "--json").stdout)
    [refused] = [s for s in by_amr if s["kind"] == "REJECTED"]
    assert refused["who"] == {"department": "govshare", "person": "validator", "role": "SYSTEM",
                              "signing_key": None}, \
        "the refusal's own actor stays the validator"
    assert refused["why"]["attempted_by"] == {"department": "gd-amr", "person": "li.ming", "role": "USER"}
    assert refused["why"]["rule"] == "actor-not-permitted" and refused["why"]["article"]
    assert refused["what"]["payload"]["rejected_event_type"] == "RequestApproved"
    assert "RequestSubmitted" in {s["what"]["event_type"] for s in by_amr}, "and what it did"

    # Both refusals of the scenario were tried by a li.ming, of two departments.
    by_person = json.loads(cli(svc, "trail", "--actor", "li.ming", "--no-state", "--json").stdout)
    tried = {(s["why"]["attempted_by"]["department"], s["why"]["rule"]) for s in by_person
             if s["kind"] == "REJECTED"}
    assert tried == {("gd-amr", "actor-not-permitted"), ("gd-hrss", "legal-basis-required")}

    shown = cli(svc, "trail", "--department", "gd-amr", "--no-state").stdout
    assert "tried by: gd-amr/li.ming (USER)" in shown and "why: actor-not-permitted (" in shown
    rows = json.loads(cli(svc, "query", "rejections", "--department", "gd-amr", "--json").stdout)
    assert [(r["rejected_event_type"], r["attempted_by_person"], r["attempted_by_role"], r["rule"])
            for r in rows] == [("RequestApproved", "li.ming", "USER", "actor-not-permitted")]
    assert rows[0]["article"] == refused["why"]["article"]
    assert json.loads(cli(svc, "query", "rejections", "--department", "gd-nobody", "--json").stdout) == []


def test_exports_carry_each_record_and_the_checkpoint_that_covers_them(scenario, tmp_path):
    svc = scenario.service
    jsonl, table = tmp_path / "trail.jsonl", tmp_path / "trail.csv"
    cli(svc, "export", "--out", str(jsonl))
    cli(svc, "export", "--format", "csv", "--out", str(table))
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with open(table, newline="", encoding="utf-8") as f:
        assert [r["event_id"] for r in csv.DictReader(f)] == [r["event_id"] for r in rows]
    for r in rows:
        assert merkle.leaf_hash(base64.b64decode(r["record"])).hex() == r["leaf_hash"]
    cover = json.loads((tmp_path / "trail.jsonl.checkpoint.json").read_text())["checkpoint"]
    assert cover["tree_size"] == cover["trail_entries"] >= len(rows)
    with svc.engine().connect() as conn:
        leaves = list(conn.scalars(select(trail_entries.c.leaf_hash).order_by(trail_entries.c.position)))
    assert merkle.root(leaves).hex() == cover["root_hash"]


def test_the_database_refuses_to_change_or_remove_a_trail_record(database_url):
    engine = make_engine(database_url)
    from projections.tables import metadata
    metadata.create_all(engine)
    with engine.begin() as tx:
        tx.execute(insert(trail_checkpoints), dict(
            tree_size=1, previous_size=0, origin="o", root_hash=b"r", chain_head=b"c",
            signed_at=datetime(2026, 11, 21), key_id="k", signature=b"s", event_id="e"))
    for statement in (trail_checkpoints.update().values(origin="forged"), trail_checkpoints.delete()):
        with pytest.raises(Exception, match="append-only"):
            with engine.begin() as tx:
                tx.execute(statement)
    reader = make_engine(database_url, read_only=True)
    with pytest.raises(Exception, match="read-only|readonly"):
        with reader.begin() as tx:
            tx.execute(insert(trail_checkpoints), dict(
                tree_size=2, previous_size=1, origin="o", root_hash=b"r", chain_head=b"c",
                signed_at=datetime(2026, 11, 21), key_id="k", signature=b"s", event_id="f"))


def test_the_trail_verifies_on_each_database_and_a_changed_byte_is_found(service):
    svc_scenario = run_scenario(service)
    engine = service.engine()
    target = middle_event(engine)
    owner = make_engine(service.database_url)
    with owner.begin() as tx:
        if owner.dialect.name == "postgresql":
            tx.execute(text("ALTER TABLE event_log DISABLE TRIGGER USER"))
        else:
            tx.execute(text("DROP TRIGGER event_log_no_update"))
        flip_a_byte(tx, target.record_id, at=-1)
    done = cli(service, "verify", check=False)
    assert done.returncode == 1
    assert f"ALTERED at position {target.position} record {target.record_id}" in done.stdout
    assert verify(engine, svc_scenario.public_key).findings[0].position == target.position


def test_a_checkpoint_read_before_its_records_waits_for_them(broker, database_url):
    """The trail topic and the record topics reach the projector in no fixed order: the trail
    never names a record the database does not hold yet."""
    topics, kafka = Topics(f"h{uuid.uuid4().hex[:10]}"), {"bootstrap.servers": broker.bootstrap}
    ensure_topics(kafka, topics, 1, 1)
    at = datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc)
    stage_keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    migrate_url(database_url, ("runtime", "processors", "projections"))
    records = []
    for line in lines(registered(new_id()), registered(new_id())):
        e = parse_line(line, now=at)
        records.append(stage_keys.signer("validator").sign(Outgoing(
            topics.events("catalog-entry"), e.envelope.aggregate_id.encode(),
            encode_payload(e.payload), to_headers(e.envelope.recorded(at)))))
    signer = Signer(Ed25519PrivateKey.generate())
    notary = Notary(make_engine(database_url), topics, Publisher(kafka), signer, FixedClock(at), keys=stage_keys)
    # The notary signs what it read; only its checkpoint reaches the log for now.
    [(_, checkpoint)] = Runner(notary, "c", wanted=SYSTEM.wanted("notary")).process([Incoming(r.topic, 0, i, at, r.key, r.value, r.headers)
                                                     for i, r in enumerate(records)])
    assert checkpoint.topic == topics.trail
    projection = make_engine(database_url)
    catch_up(Projector(projection, topics, ring=stage_keys.ring, trail_keys=lambda: Keys.of(signer.public_key)),
             SYSTEM.inputs("projector", topics), kafka, "c", timeout=60)
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 1
        assert conn.scalar(select(func.count()).select_from(trail_entries)) == 0

    Publisher(kafka).publish(records)
    catch_up(Projector(projection, topics, ring=stage_keys.ring, trail_keys=lambda: Keys.of(signer.public_key)),
             SYSTEM.inputs("projector", topics), kafka, "c", timeout=60)
    report = verify(projection, signer.public_key)
    assert report.intact and report.records == 2 and report.checkpoints == 1
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 0


# The blind spots of a trail checked against the database alone, and the anchors that close them.

def anchor_of(scenario: Scenario) -> list:
    checkpoints, foreign = signed_checkpoints(scenario.service.kafka, scenario.service.topics)
    assert checkpoints and foreign == 0
    return checkpoints


def later(minutes: int = 10) -> datetime:
    """A verifier's clock well after the scenario: nothing is still in its grace period."""
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


def test_a_forged_record_dated_in_the_future_is_found_not_left_pending(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    now = datetime.now(timezone.utc)
    one, two = middle_event(engine).record_id, middle_event(engine, 0.6).record_id
    with engine.begin() as tx:
        future = forge_like(tx, one, now + timedelta(days=30))
        recent = forge_like(tx, two, now - timedelta(seconds=5))
    report = verify(engine, scenario.public_key, now=now)
    assert report.pending == [recent], "only a record within the grace of now may be pending"
    [found] = report.findings
    assert (found.problem, found.record_id) == ("inserted", future) and "in the future" in found.detail
    # Once its grace has passed, the recent forgery is no longer pending either.
    assert {f.record_id for f in verify(engine, scenario.public_key, now=later()).findings} == {future, recent}


@pytest.mark.parametrize("table, key, change", [
    # Values no scenario event has, so each column differs whichever event is the target.
    (event_log, "event_id", dict(actor_department="forged-department", actor_person="forged.person",
                                 actor_role="AUDITOR")),
    (event_log, "event_id", dict(recorded_at=datetime(2026, 1, 1, tzinfo=timezone.utc))),
    (dead_letters, "id", dict(reason="nothing to see here")),
    (rejections, "event_id", dict(rule="no-rule", article="none")),
    # Who tried, as a security team selects a department's refused attempts by it.
    (rejections, "event_id", dict(attempted_by_department="forged-department",
                                  attempted_by_person="forged.person")),
], ids=["actor", "time", "dead-letter-reason", "rejection-rule", "rejection-attempter"])
def test_a_column_rewritten_beside_its_sealed_record_is_found(scenario, tmp_path, table, key, change):
    engine = tampered_copy(scenario, tmp_path)
    with engine.connect() as conn:
        target = middle_event(engine).record_id if table is event_log else conn.scalar(
            select(table.c[key]).limit(1))
    with engine.begin() as tx:
        tx.execute(table.update().where(table.c[key] == target).values(**change))
    report = verify(engine, scenario.public_key)
    [found] = report.findings
    assert (found.problem, found.record_id) == ("altered", target)
    assert all(column in found.detail for column in change)
    if table is event_log:
        # What the trail shows comes from the sealed bytes, not from the rewritten column.
        with engine.connect() as conn:
            aggregate = conn.scalar(select(event_log.c.aggregate_id).where(event_log.c.event_id == target))
        [step] = [s for s in steps(engine, aggregate=aggregate, with_state=False) if s["event_id"] == target]
        assert step["who"]["person"] != "forged.person"
        assert step["when"]["recorded_at"] != "2026-01-01T00:00:00+00:00"


def test_cutting_off_the_newest_checkpoint_is_found_against_the_trail_topic(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    anchor = anchor_of(scenario)
    assert verify(engine, scenario.public_key, anchor=anchor, now=later()).intact
    with engine.begin() as tx:
        newest, cut = cut_newest_checkpoint(tx)
    assert verify(engine, scenario.public_key).intact, "the database alone cannot tell"
    report = verify(engine, scenario.public_key, anchor=anchor, now=later())
    [found] = report.findings
    assert (found.problem, found.position, found.record_id) == ("deleted", newest.previous_size, cut[0])
    assert f"checkpoint {newest.tree_size}" in found.detail


def test_a_consistent_rewrite_is_named_by_the_leaves_the_trail_topic_carries(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        record = tx.scalar(select(event_log.c.record).where(event_log.c.event_id == target.record_id))
        _, payload = decode_record(record)
        # A byte of the payload: the envelope, and so every column beside it, still agrees.
        changed = flip_a_byte(tx, target.record_id, at=record.index(payload) + len(payload) // 2)
        rehash_from(tx, target.position, changed)
    alone = verify(engine, scenario.public_key)
    assert {f.problem for f in alone.findings} == {"checkpoint-mismatch"}
    anchored = verify(engine, scenario.public_key, anchor=anchor_of(scenario), now=later())
    first = anchored.findings[0]
    assert (first.problem, first.position, first.record_id) == ("altered", target.position, target.record_id)


def test_a_kept_checkpoint_is_proven_a_prefix_and_a_cut_back_trail_is_not(scenario, tmp_path):
    svc = scenario.service
    kept_now = tmp_path / "now.note"
    kept_now.write_text(cli(svc, "checkpoint").stdout)
    report = json.loads(cli(svc, "verify", "--against", str(kept_now), "--json").stdout)
    assert report["intact"] and report["consistency"]["verified"]
    assert "trail topic" in report["anchored_by"] and report["newest_checkpoint"]["age_seconds"] >= 0

    engine = tampered_copy(scenario, tmp_path)
    with engine.connect() as conn:
        first = conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size).limit(1)).one()
        newest = conn.scalar(select(func.max(trail_checkpoints.c.tree_size)))
    assert first.tree_size < newest, "the scenario signs more than one checkpoint"
    early = checkpoint_of_file({"note": base64.b64encode(tr.checkpoint_note(
        first.origin, first.tree_size, first.root_hash, first.chain_head, first.signed_at.replace(
            tzinfo=timezone.utc))).decode(), "key_id": first.key_id,
        "signature": base64.b64encode(first.signature).decode()})
    report = verify(engine, scenario.public_key, kept=early)
    assert report.intact and report.consistency["verified"] and report.consistency["path"]
    assert (report.consistency["from"], report.consistency["to"]) == (first.tree_size, newest)

    # A record the early checkpoint covers, rewritten with all its hashes: no longer a prefix.
    target = middle_event(engine, 0.0)
    assert target.position < first.tree_size
    with engine.begin() as tx:
        rehash_from(tx, target.position, flip_a_byte(tx, target.record_id))
    report = verify(engine, scenario.public_key, kept=early)
    assert any(f.problem == "checkpoint-mismatch" and "kept checkpoint" in f.detail for f in report.findings)
    # And a trail cut back below what a security team kept is found at once, offline too.
    with engine.begin() as tx:
        tx.execute(trail_checkpoints.delete().where(trail_checkpoints.c.tree_size == newest))
    report = verify(engine, scenario.public_key, kept=tr.checkpoint_of_text(kept_now.read_text()))
    assert any(f.problem == "deleted" and "cut back" in f.detail for f in report.findings)
    assert cli(svc, "verify", "--against", str(kept_now), "--offline").returncode == 0
    forged = json.loads(cli(svc, "checkpoint", "--json").stdout) | {"signature": base64.b64encode(bytes(64)).decode()}
    del forged["signed_note"]  # the older form: note, key id and signature apart
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    done = cli(svc, "verify", "--against", str(tmp_path / "forged.json"), check=False)
    assert done.returncode == 1 and "BAD-SIGNATURE" in done.stdout


def test_a_long_trail_pages_by_position(scenario):
    svc = scenario.service
    whole = json.loads(cli(svc, "trail", "--aggregate", scenario.first, "--no-state", "--json").stdout)
    first = cli(svc, "trail", "--aggregate", scenario.first, "--no-state", "--json", "--limit", "2")
    page = json.loads(first.stdout)
    assert len(page) == 2 and f"--after {page[-1]['position']}" in first.stderr
    rest = json.loads(cli(svc, "trail", "--aggregate", scenario.first, "--json", "--no-state",
                          "--after", str(page[-1]["position"])).stdout)
    assert page + rest == whole
    # A page's state-after matches the whole trail's for the same step.
    with_state = json.loads(cli(svc, "trail", "--aggregate", scenario.first, "--json", "--after",
                                str(page[0]["position"]), "--limit", "2").stdout)
    full = {s["event_id"]: s for s in json.loads(cli(svc, "trail", "--aggregate", scenario.first,
                                                     "--json").stdout)}
    assert [s["state_after"] for s in with_state] == [full[s["event_id"]]["state_after"] for s in with_state]


def test_what_readers_receive_is_safe_to_open(scenario, tmp_path):
    """CSV cells that a spreadsheet would run as formulas are neutralised (OWASP), and tables
    on a terminal show escape sequences and bidirectional overrides as text."""
    svc = scenario.service
    formula, person = "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"
    entry = formula + new_id()
    hostile = registered(entry, title="参保信息\u202e名单\r覆盖")
    hostile["actor"]["person"] = person
    assert [r["status"] for r in submit_lines(lines(hostile), svc.kafka, svc.topics, 60)] == ["accepted"]
    engine = svc.engine()
    wait_for(lambda: queries.entry(engine, entry), 30, "the hostile entry projected")

    out = tmp_path / "trail.csv"
    cli(svc, "export", "--aggregate", entry, "--format", "csv", "--out", str(out))
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["aggregate_id"] == "'" + entry and row["actor_person"] == "'" + person
    jsonl = tmp_path / "trail.jsonl"
    cli(svc, "export", "--aggregate", entry, "--out", str(jsonl))
    assert json.loads(jsonl.read_text())["aggregate_id"] == entry, "JSON Lines keeps the data exact"

    shown = cli(svc, "query", "catalog").stdout + cli(svc, "query", "catalog", entry).stdout
    assert not any(c in shown for c in "\r\u202e") and "参保信息\\u202e名单\\r覆盖" in shown
    exact = json.loads(cli(svc, "query", "catalog", entry, "--json").stdout)
    assert exact["title"] == "参保信息\u202e名单\r覆盖", "--json keeps the data exact"


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def spec_key_id(name: str, public_key: bytes) -> str:
    """c2sp.org/signed-note, Ed25519: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\x0a\x01" + public_key).digest()[:4].hex()


def test_the_checkpoint_is_a_c2sp_signed_note_under_the_deployment_s_key(scenario, tmp_path):
    svc = scenario.service
    text = cli(svc, "checkpoint").stdout
    body, _, signatures = text.rpartition("\n\n")
    origin, size, root, *extensions = body.split("\n")
    newest = json.loads(cli(svc, "checkpoint", "--json").stdout)
    assert origin == f"govshare/{svc.topics.prefix}" and int(size) == newest["tree_size"]
    assert base64.b64decode(root).hex() == newest["root_hash"] and extensions[0].startswith("chain ")
    [line] = signatures.splitlines()
    assert line.startswith(f"\u2014 {origin} ")
    blob = base64.b64decode(line.split(" ")[2])
    key_id = spec_key_id(origin, scenario.public_key)
    assert blob[:4].hex() == key_id == newest["key_id"] and tr.signature_valid(
        scenario.public_key, (body + "\n").encode(), blob[4:])
    vkey = cli(svc, "trail-key", "--vkey").stdout.strip()
    ed25519_key = base64.b64encode(b"\x01" + scenario.public_key).decode()
    assert vkey == f"{origin}+{key_id}+{ed25519_key}"
    # Either form of a kept checkpoint anchors verify --against.
    for name, kept in (("kept.note", text), ("kept.json", json.dumps(newest))):
        (tmp_path / name).write_text(kept)
        report = json.loads(cli(svc, "verify", "--against", str(tmp_path / name), "--vkey", vkey,
                                "--json").stdout)
        assert report["intact"] and report["consistency"]["verified"], name


def test_a_consistency_proof_between_real_checkpoints_verifies_offline_and_a_fork_does_not(scenario, tmp_path):
    svc = scenario.service
    with svc.engine().connect() as conn:
        sizes = list(conn.scalars(select(trail_checkpoints.c.tree_size).order_by(trail_checkpoints.c.tree_size)))
    assert len(sizes) > 1, "the scenario signs more than one checkpoint"
    (tmp_path / "new.note").write_text(cli(svc, "checkpoint").stdout)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(cli(svc, "prove-consistency", str(sizes[0]), str(tmp_path / "new.note")).stdout)
    proof = json.loads(proof_file.read_text())
    assert (proof["old_size"], proof["new_size"]) == (sizes[0], sizes[-1]) and proof["path"]
    # Offline: no database, no broker, no key file; only the pinned verifier key.
    vkey = cli(svc, "trail-key", "--vkey").stdout.strip()
    away = {**svc.env, "GOVSHARE_HOME": str(tmp_path / "elsewhere"), "GOVSHARE_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "GOVSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere' / 'none.db'}"}
    done = run_cli(away, "verify-consistency", str(proof_file), "--vkey", vkey)
    assert done.returncode == 0 and done.stdout.startswith("CONSISTENT"), done.stdout + done.stderr
    assert not (tmp_path / "elsewhere").exists()

    # A fork: the trail's own key signs a tree of the same size whose first record differs.
    new = tr.checkpoint_of_text(proof["new_checkpoint"])
    signer = keys.load(Path(svc.env["GOVSHARE_HOME"]) / "trail-key.pem")
    forked_root = merkle.node_hash(merkle.leaf_hash(b"rewritten"), new.root_hash)
    body = tr.checkpoint_note(new.origin, new.tree_size, forked_root, bytes(32), datetime.now(timezone.utc))
    fork = tr.stored_checkpoint(new.origin, body, new.signatures[0].key_id, signer.sign(body))
    (tmp_path / "fork.json").write_text(json.dumps(proof | {"new_checkpoint": fork.signed_note()}))
    done = run_cli(away, "verify-consistency", str(tmp_path / "fork.json"), "--vkey", vkey)
    assert done.returncode == 1 and len(done.stdout.splitlines()) == 1 and "forked" in done.stdout

    # Files that are no proof are answered with a sentence, never a traceback.
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[]")
    for junk in ("junk.json", "list.json", "missing.json"):
        done = run_cli(away, "verify-consistency", str(tmp_path / junk), "--vkey", vkey)
        assert done.returncode != 0 and "Traceback" not in done.stderr and done.stderr.startswith("govshare:"), junk
    done = cli(svc, "prove-consistency", str(sizes[-1] + 1000), check=False)
    assert done.returncode != 0 and "no checkpoint of" in done.stderr and "Traceback" not in done.stderr


def test_checkpoints_signed_before_c2sp_notes_still_verify(scenario, tmp_path):
    engine = tampered_copy(scenario, tmp_path)
    with engine.begin() as tx:
        tx.execute(trail_checkpoints.update().values(key_id=tr.legacy_key_id(scenario.public_key)))
    assert verify(engine, scenario.public_key).intact
    origin = f"govshare/{scenario.service.topics.prefix}"
    ring = tr.Keys((tr.TrustedKey(scenario.public_key, origin),))
    assert verify(engine, ring).intact
    other = keys.load_or_create(tmp_path / "other.pem").public_key
    assert {f.problem for f in verify(engine, other).findings} == {"bad-signature"}
    assert note.key_id(origin, scenario.public_key) == spec_key_id(origin, scenario.public_key)
