"""Benchmark: audit trail verification over a large trail, and proving one record in it.

    python -m bench.trail [--events 1000000] [--database sqlite|postgresql]

The trail is loaded in bulk (not through the broker): the events' canonical records come from
the real codec, the checkpoints from the notary's own extend-and-sign with a real Ed25519 key,
and the trail rows from the projection's own apply_checkpoint. What is timed is what a
security team runs: `verify` (every leaf, the chain, every signed root, coverage), `prove`
and the offline proof check. Prints a table and writes bench/results/trail-<database>.json.
"""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert

from bench.common import fresh_database, save
from events import merkle
from events.codec import encode_payload, encode_record
from events.envelope import Actor, Envelope, Role
from events.sharing import DataAccessed
from audit.trail import LeafKind, TrailRecord, check_proof
from infra.database import make_engine
from audit.trail import Signer
from processors.notary import extend_and_sign
from projections.sealed import event_columns
from projections.tables import event_log, metadata
from projections.trail import apply_checkpoint
from projections.verification import prove, verify

START = datetime(2026, 1, 5, 1, 0, tzinfo=timezone.utc)
DEPARTMENTS = ["gd-amr", "gd-hrss", "gd-psb", "gd-health", "hb-civil", "nb-market"]


def _accesses(n: int):
    """Data-access records, the bulk of a province's yearly volume, each its own event."""
    payload = encode_payload(DataAccessed(grant_id="grant-0001", entry_id="gd-psb-household",
                                          items=("GD.PSB.HH.1", "GD.PSB.HH.2"),
                                          purpose="企业开办登记核验", recipient="gd-amr", person="sys-01"))
    template = Envelope(
        event_id=uuid.uuid4(), event_type="DataAccessed", schema_version=1,
        aggregate_type="data-access", aggregate_id="", sequence=1, occurred_at=START,
        actor=Actor(department="gd-amr", person="sys-01", role=Role.USER), policy_id="guangdong-2018",
        correlation_id=uuid.uuid4(), source="/departments/gd-amr", recorded_at=START)
    for i in range(n):
        at = START + timedelta(milliseconds=37 * i)
        env = replace(template, event_id=uuid.uuid4(), aggregate_id=f"acc-{i:09d}", occurred_at=at,
                      recorded_at=at, correlation_id=uuid.uuid4(),
                      actor=replace(template.actor, department=DEPARTMENTS[i % len(DEPARTMENTS)]))
        yield env, encode_record(env, payload)


def load(engine, n: int, batch: int, signer: Signer, signed: list | None = None) -> dict:
    """`signed` collects the checkpoints as the trail topic would carry them."""
    metadata.create_all(engine)
    frontier, chain = merkle.Frontier(), merkle.CHAIN_START
    started, checkpoints = time.perf_counter(), 0
    pending: list[tuple[Envelope, bytes]] = []

    def flush():
        nonlocal chain, checkpoints
        records = [TrailRecord(LeafKind.ACCEPTED, str(env.event_id), record) for env, record in pending]
        cp = extend_and_sign(frontier, chain, records, origin="govshare/bench", signer=signer,
                             at=pending[-1][0].recorded_at)
        chain = cp.chain_head
        if signed is not None:
            signed.append(cp)
        with engine.begin() as tx:
            tx.execute(insert(event_log), [_row(env, record, i) for i, (env, record) in enumerate(pending)])
            apply_checkpoint(cp, str(uuid.uuid4()), tx)
        checkpoints += 1
        pending.clear()

    for item in _accesses(n):
        pending.append(item)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return {"events": n, "checkpoints": checkpoints, "seconds": round(time.perf_counter() - started, 1)}


def _row(env: Envelope, record: bytes, offset: int) -> dict:
    return dict(event_columns(env), topic="bench.events.data-access", partition=0, offset=offset,
                record=record)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--batch", type=int, default=2000, help="records per signed checkpoint")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-trail-"))
    engine = make_engine(fresh_database(args.database, home, "trail.db"))
    signer, signed = Signer(Ed25519PrivateKey.generate()), []
    loaded = load(engine, args.events, args.batch, signer, signed)
    print(f"loaded {loaded['events']} events in {loaded['checkpoints']} checkpoints ({loaded['seconds']} s)")

    started = time.perf_counter()
    report = verify(make_engine(engine.url.render_as_string(hide_password=False), read_only=True),
                    signer.public_key)
    verify_s = time.perf_counter() - started
    assert report.intact and report.records == args.events, report.findings[:3]
    started = time.perf_counter()  # as `govshare verify` runs by default: anchored by the trail topic
    anchored = verify(make_engine(engine.url.render_as_string(hide_password=False), read_only=True),
                      signer.public_key, anchor=signed)
    anchored_s = time.perf_counter() - started
    assert anchored.intact, anchored.findings[:3]

    target = f"acc-{args.events // 2:09d}"
    with engine.connect() as conn:
        event_id = conn.scalar(event_log.select().with_only_columns(event_log.c.event_id)
                               .where(event_log.c.aggregate_id == target))
    started = time.perf_counter()
    proof = prove(engine, event_id)
    prove_s = time.perf_counter() - started
    started = time.perf_counter()
    problems = check_proof(proof, signer.public_key)
    check_ms = (time.perf_counter() - started) * 1000
    assert problems == [], problems

    results = {
        "database": args.database, "load": loaded,
        "verify": {"events": report.records, "checkpoints": report.checkpoints,
                   "seconds": round(verify_s, 2), "events_per_s": round(report.records / verify_s),
                   "anchored_seconds": round(anchored_s, 2)},
        "prove_one_s": round(prove_s, 2), "audit_path_length": len(proof["audit_path"]),
        "verify_proof_ms": round(check_ms, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(f"\n{'measure (' + args.database + ')':34} {'value':>14}")
    print(f"{'verify: events':34} {report.records:>14}")
    print(f"{'verify: signed checkpoints':34} {report.checkpoints:>14}")
    print(f"{'verify: seconds':34} {results['verify']['seconds']:>14}")
    print(f"{'verify: events/s':34} {results['verify']['events_per_s']:>14}")
    print(f"{'verify anchored by topic: seconds':34} {results['verify']['anchored_seconds']:>14}")
    print(f"{'prove one event: seconds':34} {results['prove_one_s']:>14}")
    print(f"{'verify-proof: ms':34} {results['verify_proof_ms']:>14}")
    print(f"{'peak resident memory: MiB':34} {results['peak_rss_mib']:>14}")
    save(f"trail-{args.database}", results)


if __name__ == "__main__":
    main()
