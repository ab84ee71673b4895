"""The audit trail: a full scenario's trail verifies; tampering of each kind is found and
located; proofs check offline; a replay as of a past instant shows what stood then."""
from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, insert, select, text

from events import merkle
from events.codec import decode_record, encode_payload, encode_record, to_headers
from events.publisher import Outgoing, Publisher
from events.submission import parse_line
from events.topics import Topics
from events.trail import check_proof
from infra import keys
from infra.database import make_engine
from infra.submit import submit_lines
from infra.topics import ensure_topics
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
    share_requests,
    trail_checkpoints,
    trail_entries,
    trail_pending,
)
from projections.verification import verify
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


@dataclass
class Scenario:
    service: Service
    entry: str
    first: str  # a request approved first
    second: str  # and one approved after it
    between: datetime  # an instant between the two approvals
    public_key: bytes


def cli(service: Service, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
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
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    engine = make_engine(url)
    svc = scenario.service
    catch_up(Projector(engine, svc.topics), svc.kafka, "copy", timeout=60)
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


def flip_a_byte(tx, event_id: str, at: int = 40) -> bytes:
    record = tx.scalar(select(event_log.c.record).where(event_log.c.event_id == event_id))
    at %= len(record)
    changed = record[:at] + bytes([record[at] ^ 0x01]) + record[at + 1:]
    tx.execute(event_log.update().where(event_log.c.event_id == event_id).values(record=changed))
    return changed


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
        row = tx.execute(select(event_log).where(event_log.c.event_id == model.record_id)).one()._asdict()
        forged_id = str(uuid.uuid4())
        envelope, payload = decode_record(row["record"])
        forged = replace(envelope, event_id=uuid.UUID(forged_id), sequence=99)
        # Backdated, as a forger would, to pass for history the notary should have signed.
        backdated = row["recorded_at"] - timedelta(days=1)
        tx.execute(insert(event_log), row | dict(event_id=forged_id, sequence=99, recorded_at=backdated,
                                                 record=encode_record(forged, payload)))
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
        changed = flip_a_byte(tx, target.record_id)
        chain = tx.scalar(select(trail_entries.c.chain_hash).where(
            trail_entries.c.position == target.position - 1)) if target.position else merkle.CHAIN_START
        rows = tx.execute(select(trail_entries).where(trail_entries.c.position >= target.position)
                          .order_by(trail_entries.c.position)).all()
        for r in rows:
            leaf = merkle.leaf_hash(changed) if r.position == target.position else r.leaf_hash
            chain = merkle.chain_hash(chain, leaf)
            tx.execute(trail_entries.update().where(trail_entries.c.position == r.position)
                       .values(leaf_hash=leaf, chain_hash=chain))
    report = verify(engine, scenario.public_key)
    [first, *_] = report.findings
    assert {f.problem for f in report.findings} == {"checkpoint-mismatch"}
    assert first.position <= target.position < int(first.detail.split("signed at ")[1].split(":")[0])


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
    assert submitted["who"] == {"department": "gd-amr", "person": "li.ming", "role": "USER"}
    assert submitted["when"]["recorded_at"] and submitted["why"]["correlation_id"]
    assert rejected["kind"] == "REJECTED" and rejected["why"]["rule"] and rejected["why"]["article"]
    by_authority = json.loads(cli(scenario.service, "trail", "--department", "gd-authority",
                                  "--no-state", "--json").stdout)
    assert {s["what"]["event_type"] for s in by_authority} == {"ProviderConsulted", "RequestApproved"}
    text_out = cli(scenario.service, "trail", "--aggregate", scenario.first).stdout
    assert "who: gd-amr/li.ming (USER)" in text_out and '"status": "granted"' in text_out


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
    records = []
    for line in lines(registered(new_id()), registered(new_id())):
        e = parse_line(line, now=at)
        records.append(Outgoing(topics.events("catalog-entry"), e.envelope.aggregate_id.encode(),
                                encode_payload(e.payload), to_headers(e.envelope.recorded(at))))
    signer = Signer(Ed25519PrivateKey.generate())
    notary = Notary(make_engine(database_url), topics, Publisher(kafka), signer, FixedClock(at))
    # The notary signs what it read; only its checkpoint reaches the log for now.
    [(_, checkpoint)] = Runner(notary, "c").process([Incoming(r.topic, 0, i, at, r.key, r.value, r.headers)
                                                     for i, r in enumerate(records)])
    assert checkpoint.topic == topics.trail
    projection = make_engine(database_url)
    catch_up(Projector(projection, topics), kafka, "c", timeout=60)
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 1
        assert conn.scalar(select(func.count()).select_from(trail_entries)) == 0

    Publisher(kafka).publish(records)
    catch_up(Projector(projection, topics), kafka, "c", timeout=60)
    report = verify(projection, signer.public_key)
    assert report.intact and report.records == 2 and report.checkpoints == 1
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 0
