"""The audit trail: a full scenario's trail verifies; tampering of each kind is found and
located; proofs check offline; a replay as of a past instant shows what stood then.

The scenario runs on the in-memory harness (tests/harness.py) at fixed instants from the
harness's T0:
- `scenario`: played once per module and database kind (SQLite and PostgreSQL), never changed
  after; the trail's readers run on it through the command line (`harness.cli`: trail, query,
  export, prove, verify-proof, checkpoint, prove-consistency, verify-consistency, trail-key and
  verify --offline).
- `sqlite_scenario`: played once over SQLite for the tampering tests, each of which rebuilds the
  projections from the in-memory log into a SQLite copy of its own (`tampered_copy`) and checks
  it against the trail topic's checkpoints as the harness holds them (`anchor_of`).
- Tests that add to the log, or tamper with the database itself, play a harness of their own.

Two tests still run the real service (`live`: one `govshare up` on the session's broker, shared
by both), because what they check is the reading of Kafka, which the harness has none of:
- `govshare verify` without --offline reads its anchor, the signed checkpoints, off the trail
  topic, and finds a trail cut back at its end that the database alone cannot show;
- `govshare replay --as-of` consumes the log from Kafka into a database as it stood then (the
  same cut on the harness: test_a_replay_as_of_a_time_between_two_approvals_shows_the_first_only).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import json
import sqlite3
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, insert, select, text

from audit import note
from events import merkle
from events.codec import decode_record, encode_payload, to_headers
from audit.provenance import StageKeys
from events.publisher import Outgoing
from events.submission import parse_line
from events.topics import Topics
from audit import trail as tr
from audit.trail import Keys, check_proof
from audit import keys
from infra.database import make_engine
from infra.submit import submit_lines
from infra.system import SYSTEM
from infra.migrate import migrate_url
from runtime.clock import FixedClock
from audit.trail import Signer
from processors.notary import Notary
from projections import queries
from projections.runner import Projector
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
from runtime.loop import Runner
from runtime.memory import MemoryBroker
from runtime.message import Incoming
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
from tests.conftest import Service, fresh_database, start_service, wait_for
from tests.harness import ROOT, T0, Harness
from tests.tampering import cut_newest_checkpoint, flip_a_byte, forge_like, rehash_from


def cli(service: Service, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The command line against a real Service (tests/test_key_rotation.py uses it too)."""
    done = subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env, input=stdin,
                          capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


def recorded_at(engine, aggregate_id: str, event_type: str) -> datetime:
    with engine.connect() as conn:
        return conn.scalar(select(event_log.c.recorded_at).where(
            event_log.c.aggregate_id == aggregate_id, event_log.c.event_type == event_type))


def trail_complete(engine, key: bytes, now: datetime | None = None):
    """The trail covers every record projected so far and verifies: the notary caught up."""
    report = verify(engine, key, now=now)
    with engine.connect() as conn:
        records = (conn.scalar(select(func.count()).select_from(event_log))
                   + conn.scalar(select(func.count()).select_from(dead_letters)))
    return report if report.intact and not report.pending and report.tree_size == records else None


# -- the scenario on the harness ------------------------------------------------------------

@dataclass
class Scenario:
    harness: Harness
    entry: str
    first: str  # a request approved first
    second: str  # and one approved after it
    between: datetime  # an instant between the two approvals
    end: datetime  # the instant the scenario's last event was recorded
    public_key: bytes

    @property
    def engine(self):
        return self.harness.engine

    def cli(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return self.harness.cli(*args, check=check, stdin=stdin)

    def later(self, minutes: int = 10) -> datetime:
        """A verifier's clock well after the scenario: nothing is still in its grace period."""
        return self.end + timedelta(minutes=minutes)


def play(h: Harness, start: datetime = T0) -> Scenario:
    """A conditional entry, a rejected registration, a dead letter, and two requests reviewed
    together and approved one after the other, with a rejected approval attempt in between;
    each step a minute after the last, so the notary signs a checkpoint for each."""
    entry, first, second = new_id(), new_id("req"), new_id("req")
    at = [start + timedelta(minutes=m) for m in range(8)]
    assert [r["status"] for r in h.when(
        registered(entry, codes=["I.1", "I.2"], share_type="CONDITIONAL", legal_basis=LAW,
                   share_conditions="仅限审批"),
        registered(new_id(), share_type="CONDITIONAL"), at=at[0])] == ["accepted", "rejected"]
    h.sim.publish([Outgoing(h.topics.inbox("catalog-entry"), b"x", b"\x00\xffnot an event", [])], at=at[1])
    h.given(request(first, entry), *reviewed(first), request(second, entry), *reviewed(second), at=at[2])
    h.given(approved(first), at=at[3])
    [again] = h.when(event("RequestApproved", first, 5, {"comment": "again"}, **USER), at=at[4])
    assert again["status"] == "rejected"
    h.given(approved(second), at=at[6])
    engine = h.engine
    assert len(queries.grant_list(engine)) == 2
    one, two = recorded_at(engine, first, "RequestApproved"), recorded_at(engine, second, "RequestApproved")
    assert one < two
    one, two = (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t for t in (one, two))  # SQLite keeps no zone
    key = keys.load(h.sim.settings.trail_key_file).public_key
    assert trail_complete(engine, key, now=at[7]), "the notary signed everything"
    return Scenario(h, entry, first, second, one + (two - one) / 2, at[6], key)


@contextmanager
def scenario_on(kind: str, directory: Path) -> Iterator[Scenario]:
    with fresh_database(kind, directory) as url:
        h = Harness(url, directory / "home")
        try:
            yield play(h)
        finally:
            h.sim.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scenario(request, tmp_path_factory):
    """The scenario, played once per database kind for this module's readers."""
    with scenario_on(request.param, tmp_path_factory.mktemp(f"trail-{request.param}")) as found:
        yield found


@pytest.fixture(scope="module")
def sqlite_scenario(tmp_path_factory):
    """The scenario over SQLite, for the tests that tamper with a rebuilt copy of it."""
    with scenario_on("sqlite", tmp_path_factory.mktemp("trail-tampered")) as found:
        yield found


def test_a_full_scenario_trail_verifies(scenario):
    done = scenario.cli("verify", "--offline", "--json")
    report = json.loads(done.stdout)
    assert report["intact"] and report["findings"] == [] and report["pending"] == []
    with scenario.engine.connect() as conn:
        kinds = dict(conn.execute(select(trail_entries.c.kind, func.count()).group_by(trail_entries.c.kind)).all())
    assert kinds["REJECTED"] == 2 and kinds["DEAD_LETTERED"] == 1 and kinds["ACCEPTED"] >= 10
    assert report["tree_size"] == sum(kinds.values())


def tampered_copy(scenario: Scenario, tmp_path):
    """The trail rebuilt from the log into a database of its own, with the append-only guard
    dropped, as an intruder with the database's owner rights would."""
    engine = scenario.harness.rebuild(f"sqlite:///{tmp_path / 'copy.db'}")
    assert verify(engine, scenario.public_key, now=scenario.later()).intact
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


def first_finding(scenario: Scenario, engine):
    report = verify(engine, scenario.public_key, now=scenario.later())
    assert not report.intact
    return report.findings[0]


def test_one_changed_byte_is_found_at_its_position(sqlite_scenario, tmp_path):
    engine = tampered_copy(sqlite_scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        flip_a_byte(tx, target.record_id)
    found = first_finding(sqlite_scenario, engine)
    assert (found.problem, found.position, found.record_id) == ("altered", target.position, target.record_id)


def test_a_deleted_record_is_found_at_its_position(sqlite_scenario, tmp_path):
    engine = tampered_copy(sqlite_scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        tx.execute(event_log.delete().where(event_log.c.event_id == target.record_id))
        tx.execute(trail_entries.delete().where(trail_entries.c.position == target.position))
    found = first_finding(sqlite_scenario, engine)
    assert (found.problem, found.position) == ("deleted", target.position)


def test_an_inserted_event_is_found_by_its_id(sqlite_scenario, tmp_path):
    engine = tampered_copy(sqlite_scenario, tmp_path)
    model = middle_event(engine)
    with engine.begin() as tx:
        at = tx.scalar(select(event_log.c.recorded_at).where(event_log.c.event_id == model.record_id))
        # Backdated, as a forger would, to pass for history the notary should have signed.
        forged_id = forge_like(tx, model.record_id, at - timedelta(days=1))
    found = first_finding(sqlite_scenario, engine)
    assert (found.problem, found.record_id) == ("inserted", forged_id)


def test_two_swapped_records_are_found_at_the_first(sqlite_scenario, tmp_path):
    engine = tampered_copy(sqlite_scenario, tmp_path)
    a, b = middle_event(engine, 0.3), middle_event(engine, 0.7)
    assert a.position < b.position
    with engine.begin() as tx:
        move = trail_entries.update()
        tx.execute(move.where(trail_entries.c.position == a.position).values(position=-1))
        tx.execute(move.where(trail_entries.c.position == b.position).values(position=a.position))
        tx.execute(move.where(trail_entries.c.position == -1).values(position=b.position))
    found = first_finding(sqlite_scenario, engine)
    assert (found.problem, found.position, found.record_id) == ("reordered", a.position, b.record_id)


def test_a_rewritten_entry_with_consistent_hashes_fails_the_signed_root(sqlite_scenario, tmp_path):
    """An intruder who also rewrites the leaf and the chain still cannot forge the signature."""
    engine = tampered_copy(sqlite_scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        rehash_from(tx, target.position, flip_a_byte(tx, target.record_id))
    report = verify(engine, sqlite_scenario.public_key, now=sqlite_scenario.later())
    [mismatch, *_] = [f for f in report.findings if f.problem == "checkpoint-mismatch"]
    assert mismatch.position <= target.position < int(mismatch.detail.split("signed at ")[1].split(":")[0])
    # Where the flipped byte lies in the envelope, the columns beside it name the record too.
    assert all(f.position == target.position for f in report.findings if f.problem != "checkpoint-mismatch")


def test_an_inclusion_proof_verifies_offline_and_a_forged_one_does_not(scenario, tmp_path):
    approval = [s for s in json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--json",
                                                   "--no-state").stdout)
                if s["what"]["event_type"] == "RequestApproved" and s["kind"] == "ACCEPTED"][0]
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(scenario.cli("prove", approval["event_id"]).stdout)
    assert "VALID" in scenario.cli("verify-proof", str(proof_file)).stdout
    proof = json.loads(proof_file.read_text())
    assert check_proof(proof, scenario.public_key) == []

    # A forged event: the same envelope saying something else, with its own, honest leaf hash.
    record = base64.b64decode(proof["record"])
    forged = record.replace("同意".encode(), "驳回".encode())
    assert forged != record
    lie = proof | {"record": base64.b64encode(forged).decode(), "leaf_hash": merkle.leaf_hash(forged).hex()}
    (tmp_path / "forged.json").write_text(json.dumps(lie))
    done = scenario.cli("verify-proof", str(tmp_path / "forged.json"), check=False)
    assert done.returncode == 1 and "audit path does not lead" in done.stdout
    other_key = keys.public_key_text(keys.load_or_create(tmp_path / "other.pem"))
    done = scenario.cli("verify-proof", str(proof_file), "--public-key", other_key, check=False)
    assert done.returncode == 1 and "not the pinned key" in done.stdout


def test_a_relabelled_proof_is_invalid_and_names_the_field(tmp_path):
    """A proof binds what it names to the bytes it proves: relabelling it as the proof of
    another record, kind, position or tree, or under another tree's checkpoint, is refused.
    The scenario is this test's own (it adds to the log), over SQLite only: `verify-proof`
    reads no database, and `prove` is read on both kinds by the inclusion proof's test."""
    h = Harness(f"sqlite:///{tmp_path / 'govshare.db'}", tmp_path / "home")
    try:
        scenario = play(h)
        steps_ = json.loads(h.cli("trail", "--aggregate", scenario.first, "--json", "--no-state").stdout)
        accepted = [s for s in steps_ if s["kind"] == "ACCEPTED"]
        proven, other = accepted[-1], accepted[0]
        proof = json.loads(h.cli("prove", proven["event_id"]).stdout)
        other_proof = json.loads(h.cli("prove", other["event_id"]).stdout)
        assert check_proof(proof, scenario.public_key) == []
        valid = h.cli("verify-proof", "-", check=False, stdin=json.dumps(proof))
        assert valid.stdout.startswith(f"VALID: {proven['event_id']} (ACCEPTED) is leaf {proof['leaf_index']}")

        # A checkpoint of another tree: a later, larger one, signed by the same key.
        h.given(registered(new_id()), at=scenario.later(1))
        later_proof = json.loads(h.cli("prove", proven["event_id"]).stdout)
        assert later_proof["tree_size"] > proof["tree_size"]
        relabelled = {
            "record_id": proof | {"record_id": other["event_id"]},
            "kind": proof | {"kind": "REJECTED"},
            "leaf_index": proof | {"leaf_index": other_proof["leaf_index"]},
            "tree_size": proof | {"tree_size": proof["tree_size"] + 1},
            "checkpoint": proof | {"checkpoint": later_proof["checkpoint"]},
        }
        for field, lie in relabelled.items():
            done = h.cli("verify-proof", "-", check=False, stdin=json.dumps(lie))
            assert done.returncode == 1 and done.stdout.startswith("INVALID"), (field, done.stdout)
            assert f"{field}" in done.stdout.split("INVALID: ", 1)[1], (field, done.stdout)
            assert check_proof(lie, scenario.public_key), field
        # Both labels at once, as a forger would change them: still the record's own id is named.
        both = proof | {"record_id": other["event_id"], "leaf_index": other_proof["leaf_index"]}
        done = h.cli("verify-proof", "-", check=False, stdin=json.dumps(both))
        assert done.returncode == 1 and proven["event_id"] in done.stdout
    finally:
        h.sim.close()


def test_a_replay_as_of_a_time_between_two_approvals_shows_the_first_only(scenario, tmp_path):
    then = scenario.harness.rebuild(f"sqlite:///{tmp_path / 'then.db'}", as_of=scenario.between)
    with then.connect() as conn:
        status = dict(conn.execute(select(share_requests.c.request_id, share_requests.c.status)).all())
        granted = set(conn.scalars(select(grants.c.request_id)))
        latest = conn.scalar(select(func.max(event_log.c.recorded_at)))
    then.dispose()
    assert status[scenario.first] == "granted" and scenario.first in granted
    assert status[scenario.second] == "pending" and scenario.second not in granted
    assert latest.replace(tzinfo=None) <= scenario.between.replace(tzinfo=None)


def test_a_request_s_trail_says_who_what_when_why_and_the_state_after(scenario):
    steps = json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--json").stdout)
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
    by_authority = json.loads(scenario.cli("trail", "--department", "gd-authority",
                                           "--no-state", "--json").stdout)
    assert {s["what"]["event_type"] for s in by_authority} == {"ProviderConsulted", "RequestApproved"}
    text_out = scenario.cli("trail", "--aggregate", scenario.first).stdout
    assert "who: gd-amr/li.ming (USER)" in text_out and '"status": "granted"' in text_out


def test_a_department_s_refused_attempts_are_listed_by_department_and_by_person(scenario):
    """The scenario's gd-amr user tried to approve its own request: the validator refused it,
    and the refusal is found under who tried, with its rule and article."""
    by_amr = json.loads(scenario.cli("trail", "--department", "gd-amr", "--no-state", "--json").stdout)
    [refused] = [s for s in by_amr if s["kind"] == "REJECTED"]
    assert refused["who"] == {"department": "govshare", "person": "validator", "role": "SYSTEM",
                              "signing_key": None}, \
        "the refusal's own actor stays the validator"
    assert refused["why"]["attempted_by"] == {"department": "gd-amr", "person": "li.ming", "role": "USER"}
    assert refused["why"]["rule"] == "actor-not-permitted" and refused["why"]["article"]
    assert refused["what"]["payload"]["rejected_event_type"] == "RequestApproved"
    assert "RequestSubmitted" in {s["what"]["event_type"] for s in by_amr}, "and what it did"

    # Both refusals of the scenario were tried by a li.ming, of two departments.
    by_person = json.loads(scenario.cli("trail", "--actor", "li.ming", "--no-state", "--json").stdout)
    tried = {(s["why"]["attempted_by"]["department"], s["why"]["rule"]) for s in by_person
             if s["kind"] == "REJECTED"}
    assert tried == {("gd-amr", "actor-not-permitted"), ("gd-hrss", "legal-basis-required")}

    shown = scenario.cli("trail", "--department", "gd-amr", "--no-state").stdout
    assert "tried by: gd-amr/li.ming (USER)" in shown and "why: actor-not-permitted (" in shown
    rows = json.loads(scenario.cli("query", "rejections", "--department", "gd-amr", "--json").stdout)
    assert [(r["rejected_event_type"], r["attempted_by_person"], r["attempted_by_role"], r["rule"])
            for r in rows] == [("RequestApproved", "li.ming", "USER", "actor-not-permitted")]
    assert rows[0]["article"] == refused["why"]["article"]
    assert json.loads(scenario.cli("query", "rejections", "--department", "gd-nobody", "--json").stdout) == []


def test_exports_carry_each_record_and_the_checkpoint_that_covers_them(scenario, tmp_path):
    jsonl, table = tmp_path / "trail.jsonl", tmp_path / "trail.csv"
    scenario.cli("export", "--out", str(jsonl))
    scenario.cli("export", "--format", "csv", "--out", str(table))
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    with open(table, newline="", encoding="utf-8") as f:
        assert [r["event_id"] for r in csv.DictReader(f)] == [r["event_id"] for r in rows]
    for r in rows:
        assert merkle.leaf_hash(base64.b64decode(r["record"])).hex() == r["leaf_hash"]
    cover = json.loads((tmp_path / "trail.jsonl.checkpoint.json").read_text())["checkpoint"]
    assert cover["tree_size"] == cover["trail_entries"] >= len(rows)
    with scenario.engine.connect() as conn:
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


def test_the_trail_verifies_on_each_database_and_a_changed_byte_is_found(harness):
    played = play(harness)  # its trail verifies
    target = middle_event(harness.engine)
    owner = make_engine(harness.database_url)
    with owner.begin() as tx:
        if owner.dialect.name == "postgresql":
            tx.execute(text("ALTER TABLE event_log DISABLE TRIGGER USER"))
        else:
            tx.execute(text("DROP TRIGGER event_log_no_update"))
        flip_a_byte(tx, target.record_id, at=-1)
    owner.dispose()
    done = harness.cli("verify", "--offline", check=False)
    assert done.returncode == 1
    assert f"ALTERED at position {target.position} record {target.record_id}" in done.stdout
    assert verify(harness.engine, played.public_key, now=played.later()).findings[0].position == target.position


def test_a_checkpoint_read_before_its_records_waits_for_them(database_url):
    """The trail topic and the record topics reach the projector in no fixed order: the trail
    never names a record the database does not hold yet."""
    topics = Topics(f"h{uuid.uuid4().hex[:10]}")
    at = datetime(2026, 11, 21, 1, 0, tzinfo=timezone.utc)
    log = MemoryBroker(lambda: at)
    stage_keys = StageKeys.generated(SYSTEM.signing_stages(), SYSTEM.writers(topics))
    migrate_url(database_url, ("runtime", "processors", "projections"))
    records = []
    for line in lines(registered(new_id()), registered(new_id())):
        e = parse_line(line, now=at)
        records.append(stage_keys.signer("validator").sign(Outgoing(
            topics.events("catalog-entry"), e.envelope.aggregate_id.encode(),
            encode_payload(e.payload), to_headers(e.envelope.recorded(at)))))
    signer = Signer(Ed25519PrivateKey.generate())
    notary = Notary(make_engine(database_url), topics, log, signer, FixedClock(at), keys=stage_keys)
    # The notary signs what it read; only its checkpoint reaches the log for now.
    [(_, checkpoint)] = Runner(notary, "c", wanted=SYSTEM.wanted("notary")).process(
        [Incoming(r.topic, 0, i, at, r.key, r.value, r.headers) for i, r in enumerate(records)])
    assert checkpoint.topic == topics.trail and list(log.topics) == [topics.trail]
    projection = make_engine(database_url)

    def project() -> None:
        """A projector catches up with every input it has on the log, from where it stopped."""
        Harness.feed(Projector(projection, topics, ring=stage_keys.ring,
                               trail_keys=lambda: Keys.of(signer.public_key)),
                     [m for m in log.order if m.topic in set(SYSTEM.inputs("projector", topics))])

    project()
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 1
        assert conn.scalar(select(func.count()).select_from(trail_entries)) == 0

    log.publish(records)
    project()
    report = verify(projection, signer.public_key, now=at)
    assert report.intact and report.records == 2 and report.checkpoints == 1
    with projection.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(trail_pending)) == 0


# The blind spots of a trail checked against the database alone, and the anchors that close them.

def anchor_of(scenario: Scenario) -> list:
    """The signed checkpoints on the trail topic, as `verify` reads them off it."""
    checkpoints, foreign = scenario.harness.checkpoints()
    assert checkpoints and foreign == 0
    return checkpoints


def test_a_forged_record_dated_in_the_future_is_found_not_left_pending(sqlite_scenario, tmp_path):
    scenario = sqlite_scenario
    engine = tampered_copy(scenario, tmp_path)
    now = scenario.later()
    one, two = middle_event(engine).record_id, middle_event(engine, 0.6).record_id
    with engine.begin() as tx:
        future = forge_like(tx, one, now + timedelta(days=30))
        recent = forge_like(tx, two, now - timedelta(seconds=5))
    report = verify(engine, scenario.public_key, now=now)
    assert report.pending == [recent], "only a record within the grace of now may be pending"
    [found] = report.findings
    assert (found.problem, found.record_id) == ("inserted", future) and "in the future" in found.detail
    # Once its grace has passed, the recent forgery is no longer pending either.
    assert {f.record_id for f in verify(engine, scenario.public_key, now=now + timedelta(minutes=10)).findings} \
        == {future, recent}


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
def test_a_column_rewritten_beside_its_sealed_record_is_found(sqlite_scenario, tmp_path, table, key, change):
    engine = tampered_copy(sqlite_scenario, tmp_path)
    with engine.connect() as conn:
        target = middle_event(engine).record_id if table is event_log else conn.scalar(
            select(table.c[key]).limit(1))
    with engine.begin() as tx:
        tx.execute(table.update().where(table.c[key] == target).values(**change))
    report = verify(engine, sqlite_scenario.public_key, now=sqlite_scenario.later())
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


def test_cutting_off_the_newest_checkpoint_is_found_against_the_trail_topic(sqlite_scenario, tmp_path):
    scenario = sqlite_scenario
    engine = tampered_copy(scenario, tmp_path)
    anchor = anchor_of(scenario)
    assert verify(engine, scenario.public_key, anchor=anchor, now=scenario.later()).intact
    with engine.begin() as tx:
        newest, cut = cut_newest_checkpoint(tx)
    assert verify(engine, scenario.public_key, now=scenario.later()).intact, "the database alone cannot tell"
    report = verify(engine, scenario.public_key, anchor=anchor, now=scenario.later())
    [found] = report.findings
    assert (found.problem, found.position, found.record_id) == ("deleted", newest.previous_size, cut[0])
    assert f"checkpoint {newest.tree_size}" in found.detail


def test_a_consistent_rewrite_is_named_by_the_leaves_the_trail_topic_carries(sqlite_scenario, tmp_path):
    scenario = sqlite_scenario
    engine = tampered_copy(scenario, tmp_path)
    target = middle_event(engine)
    with engine.begin() as tx:
        record = tx.scalar(select(event_log.c.record).where(event_log.c.event_id == target.record_id))
        _, payload = decode_record(record)
        # A byte of the payload: the envelope, and so every column beside it, still agrees.
        changed = flip_a_byte(tx, target.record_id, at=record.index(payload) + len(payload) // 2)
        rehash_from(tx, target.position, changed)
    alone = verify(engine, scenario.public_key, now=scenario.later())
    assert {f.problem for f in alone.findings} == {"checkpoint-mismatch"}
    anchored = verify(engine, scenario.public_key, anchor=anchor_of(scenario), now=scenario.later())
    first = anchored.findings[0]
    assert (first.problem, first.position, first.record_id) == ("altered", target.position, target.record_id)


def test_a_kept_checkpoint_is_proven_a_prefix_and_a_cut_back_trail_is_not(scenario, tmp_path):
    kept_now = tmp_path / "now.note"
    kept_now.write_text(scenario.cli("checkpoint").stdout)
    report = json.loads(scenario.cli("verify", "--against", str(kept_now), "--offline", "--json").stdout)
    assert report["intact"] and report["consistency"]["verified"]
    assert "kept checkpoint" in report["anchored_by"] and report["newest_checkpoint"]["age_seconds"] >= 0

    engine = tampered_copy(scenario, tmp_path)
    with engine.connect() as conn:
        first = conn.execute(select(trail_checkpoints).order_by(trail_checkpoints.c.tree_size).limit(1)).one()
        newest = conn.scalar(select(func.max(trail_checkpoints.c.tree_size)))
    assert first.tree_size < newest, "the scenario signs more than one checkpoint"
    early = checkpoint_of_file({"note": base64.b64encode(tr.checkpoint_note(
        first.origin, first.tree_size, first.root_hash, first.chain_head, first.signed_at.replace(
            tzinfo=timezone.utc))).decode(), "key_id": first.key_id,
        "signature": base64.b64encode(first.signature).decode()})
    report = verify(engine, scenario.public_key, kept=early, now=scenario.later())
    assert report.intact and report.consistency["verified"] and report.consistency["path"]
    assert (report.consistency["from"], report.consistency["to"]) == (first.tree_size, newest)

    # A record the early checkpoint covers, rewritten with all its hashes: no longer a prefix.
    target = middle_event(engine, 0.0)
    assert target.position < first.tree_size
    with engine.begin() as tx:
        rehash_from(tx, target.position, flip_a_byte(tx, target.record_id))
    report = verify(engine, scenario.public_key, kept=early, now=scenario.later())
    assert any(f.problem == "checkpoint-mismatch" and "kept checkpoint" in f.detail for f in report.findings)
    # And a trail cut back below what a security team kept is found at once, offline too.
    with engine.begin() as tx:
        tx.execute(trail_checkpoints.delete().where(trail_checkpoints.c.tree_size == newest))
    report = verify(engine, scenario.public_key, kept=tr.checkpoint_of_text(kept_now.read_text()),
                    now=scenario.later())
    assert any(f.problem == "deleted" and "cut back" in f.detail for f in report.findings)
    engine.dispose()
    forged = json.loads(scenario.cli("checkpoint", "--json").stdout) | {
        "signature": base64.b64encode(bytes(64)).decode()}
    del forged["signed_note"]  # the older form: note, key id and signature apart
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    done = scenario.cli("verify", "--against", str(tmp_path / "forged.json"), "--offline", check=False)
    assert done.returncode == 1 and "BAD-SIGNATURE" in done.stdout


def test_a_long_trail_pages_by_position(scenario):
    whole = json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--no-state", "--json").stdout)
    first = scenario.cli("trail", "--aggregate", scenario.first, "--no-state", "--json", "--limit", "2")
    page = json.loads(first.stdout)
    assert len(page) == 2 and f"--after {page[-1]['position']}" in first.stderr
    rest = json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--json", "--no-state",
                                   "--after", str(page[-1]["position"])).stdout)
    assert page + rest == whole
    # A page's state-after matches the whole trail's for the same step.
    with_state = json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--json", "--after",
                                         str(page[0]["position"]), "--limit", "2").stdout)
    full = {s["event_id"]: s for s in json.loads(scenario.cli("trail", "--aggregate", scenario.first,
                                                              "--json").stdout)}
    assert [s["state_after"] for s in with_state] == [full[s["event_id"]]["state_after"] for s in with_state]


def test_what_readers_receive_is_safe_to_open(harness, tmp_path):
    """CSV cells that a spreadsheet would run as formulas are neutralised (OWASP), and tables
    on a terminal show escape sequences and bidirectional overrides as text."""
    formula, person = "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"
    entry = formula + new_id()
    hostile = registered(entry, title="参保信息\u202e名单\r覆盖")
    hostile["actor"]["person"] = person
    harness.given(hostile)
    assert queries.entry(harness.engine, entry), "the hostile entry projected"

    out = tmp_path / "trail.csv"
    harness.cli("export", "--aggregate", entry, "--format", "csv", "--out", str(out))
    [row] = list(csv.DictReader(out.open(encoding="utf-8")))
    assert row["aggregate_id"] == "'" + entry and row["actor_person"] == "'" + person
    jsonl = tmp_path / "trail.jsonl"
    harness.cli("export", "--aggregate", entry, "--out", str(jsonl))
    assert json.loads(jsonl.read_text())["aggregate_id"] == entry, "JSON Lines keeps the data exact"

    shown = harness.cli("query", "catalog").stdout + harness.cli("query", "catalog", entry).stdout
    assert not any(c in shown for c in "\r\u202e") and "参保信息\\u202e名单\\r覆盖" in shown
    exact = json.loads(harness.cli("query", "catalog", entry, "--json").stdout)
    assert exact["title"] == "参保信息\u202e名单\r覆盖", "--json keeps the data exact"


def spec_key_id(name: str, public_key: bytes) -> str:
    """c2sp.org/signed-note, Ed25519: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\x0a\x01" + public_key).digest()[:4].hex()


def test_the_checkpoint_is_a_c2sp_signed_note_under_the_deployment_s_key(scenario, tmp_path):
    text = scenario.cli("checkpoint").stdout
    body, _, signatures = text.rpartition("\n\n")
    origin, size, root, *extensions = body.split("\n")
    newest = json.loads(scenario.cli("checkpoint", "--json").stdout)
    assert origin == f"govshare/{scenario.harness.topics.prefix}" and int(size) == newest["tree_size"]
    assert base64.b64decode(root).hex() == newest["root_hash"] and extensions[0].startswith("chain ")
    [line] = signatures.splitlines()
    assert line.startswith(f"\u2014 {origin} ")
    blob = base64.b64decode(line.split(" ")[2])
    key_id = spec_key_id(origin, scenario.public_key)
    assert blob[:4].hex() == key_id == newest["key_id"] and tr.signature_valid(
        scenario.public_key, (body + "\n").encode(), blob[4:])
    vkey = scenario.cli("trail-key", "--vkey").stdout.strip()
    ed25519_key = base64.b64encode(b"\x01" + scenario.public_key).decode()
    assert vkey == f"{origin}+{key_id}+{ed25519_key}"
    # Either form of a kept checkpoint anchors verify --against.
    for name, kept in (("kept.note", text), ("kept.json", json.dumps(newest))):
        (tmp_path / name).write_text(kept)
        report = json.loads(scenario.cli("verify", "--against", str(tmp_path / name), "--vkey", vkey,
                                         "--offline", "--json").stdout)
        assert report["intact"] and report["consistency"]["verified"], name


def test_a_consistency_proof_between_real_checkpoints_verifies_offline_and_a_fork_does_not(scenario, tmp_path):
    with scenario.engine.connect() as conn:
        sizes = list(conn.scalars(select(trail_checkpoints.c.tree_size).order_by(trail_checkpoints.c.tree_size)))
    assert len(sizes) > 1, "the scenario signs more than one checkpoint"
    (tmp_path / "new.note").write_text(scenario.cli("checkpoint").stdout)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(scenario.cli("prove-consistency", str(sizes[0]), str(tmp_path / "new.note")).stdout)
    proof = json.loads(proof_file.read_text())
    assert (proof["old_size"], proof["new_size"]) == (sizes[0], sizes[-1]) and proof["path"]
    # Offline: no database, no broker, no key file; only the pinned verifier key.
    vkey = scenario.cli("trail-key", "--vkey").stdout.strip()
    away = {**scenario.harness.env, "GOVSHARE_HOME": str(tmp_path / "elsewhere"),
            "GOVSHARE_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "GOVSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'elsewhere' / 'none.db'}",
            "GOVSHARE_STATE_URL": f"sqlite:///{tmp_path / 'elsewhere' / 'none.db'}"}
    done = run_cli(away, "verify-consistency", str(proof_file), "--vkey", vkey)
    assert done.returncode == 0 and done.stdout.startswith("CONSISTENT"), done.stdout + done.stderr
    assert not (tmp_path / "elsewhere").exists()

    # A fork: the trail's own key signs a tree of the same size whose first record differs.
    new = tr.checkpoint_of_text(proof["new_checkpoint"])
    signer = keys.load(scenario.harness.sim.settings.trail_key_file)
    forked_root = merkle.node_hash(merkle.leaf_hash(b"rewritten"), new.root_hash)
    body = tr.checkpoint_note(new.origin, new.tree_size, forked_root, bytes(32), scenario.later())
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
    done = scenario.cli("prove-consistency", str(sizes[-1] + 1000), check=False)
    assert done.returncode != 0 and "no checkpoint of" in done.stderr and "Traceback" not in done.stderr


def test_checkpoints_signed_before_c2sp_notes_still_verify(sqlite_scenario, tmp_path):
    scenario = sqlite_scenario
    engine = tampered_copy(scenario, tmp_path)
    with engine.begin() as tx:
        tx.execute(trail_checkpoints.update().values(key_id=tr.legacy_key_id(scenario.public_key)))
    assert verify(engine, scenario.public_key, now=scenario.later()).intact
    origin = f"govshare/{scenario.harness.topics.prefix}"
    ring = tr.Keys((tr.TrustedKey(scenario.public_key, origin),))
    assert verify(engine, ring, now=scenario.later()).intact
    other = keys.load_or_create(tmp_path / "other.pem").public_key
    assert {f.problem for f in verify(engine, other, now=scenario.later()).findings} == {"bad-signature"}
    assert note.key_id(origin, scenario.public_key) == spec_key_id(origin, scenario.public_key)


# -- what only the real service shows: the broker read by `verify` and `replay` --------------

@dataclass
class LiveScenario:
    service: Service
    entry: str
    first: str
    second: str
    between: datetime  # an instant between the two approvals, as the service recorded them
    public_key: bytes


def run_scenario(service: Service) -> LiveScenario:
    """The same scenario as `play`, through a running `govshare up` on the real clock."""
    entry, first, second = new_id(), new_id("req"), new_id("req")
    engine = service.engine()

    def submit(*events):
        return [r["status"] for r in submit_lines(lines(*events), service.kafka, service.topics, 60)]

    assert submit(registered(entry, codes=["I.1", "I.2"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"),
                  registered(new_id(), share_type="CONDITIONAL")) == ["accepted", "rejected"]
    from events.publisher import Publisher
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
    return LiveScenario(service, entry, first, second, one + (two - one) / 2, key)


@pytest.fixture(scope="module")
def live(broker, tmp_path_factory):
    home = tmp_path_factory.mktemp("trail-live")
    service = start_service(home, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                   "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        yield run_scenario(service)
    finally:
        service.stop()


def test_verify_reads_the_trail_topic_and_finds_a_trail_cut_back_at_its_end(live, tmp_path):
    svc = live.service
    report = json.loads(cli(svc, "verify", "--json").stdout)
    assert report["intact"] and report["findings"] == [] and report["pending"] == []
    assert "trail topic" in report["anchored_by"] and report["newest_checkpoint"]["age_seconds"] >= 0
    with svc.engine().connect() as conn:
        assert report["tree_size"] == conn.scalar(select(func.count()).select_from(trail_entries))

    # A copy of the database, cut back at its end: its newest checkpoint, with every entry and
    # record it covers, gone. The database alone cannot tell; the trail topic can.
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(svc.database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(copy)
    with target:
        source.backup(target)
    source.close()
    target.close()
    engine = make_engine(f"sqlite:///{copy}")
    with engine.begin() as tx:
        for table in APPEND_ONLY:
            tx.execute(text(f"DROP TRIGGER {table.name}_no_update"))
            tx.execute(text(f"DROP TRIGGER {table.name}_no_delete"))
        newest, cut = cut_newest_checkpoint(tx)
    engine.dispose()
    on_copy = {**svc.env, "GOVSHARE_DATABASE_URL": f"sqlite:///{copy}"}
    alone = run_cli(on_copy, "verify", "--offline")
    assert alone.returncode == 0 and alone.stdout.startswith("INTACT"), alone.stdout + alone.stderr
    # --grace 0: the newest checkpoint was signed moments ago, and is missing all the same.
    anchored = run_cli(on_copy, "verify", "--grace", "0")
    assert anchored.returncode == 1, anchored.stdout + anchored.stderr
    assert f"DELETED at position {newest.previous_size} record {cut[0]}" in anchored.stdout
    assert f"checkpoint {newest.tree_size}" in anchored.stdout


def test_a_replay_from_the_broker_as_of_a_time_between_two_approvals_shows_the_first_only(live, tmp_path):
    url = f"sqlite:///{tmp_path / 'then.db'}"
    # With its zone: the command refuses to guess one (SQLite gave the instant back naive, in UTC).
    cli(live.service, "replay", "--as-of", queries.utc(live.between).isoformat(), "--into", url)
    with make_engine(url).connect() as conn:
        status = dict(conn.execute(select(share_requests.c.request_id, share_requests.c.status)).all())
        granted = set(conn.scalars(select(grants.c.request_id)))
        latest = conn.scalar(select(func.max(event_log.c.recorded_at)))
    assert status[live.first] == "granted" and live.first in granted
    assert status[live.second] == "pending" and live.second not in granted
    assert latest.replace(tzinfo=None) <= live.between.replace(tzinfo=None)
