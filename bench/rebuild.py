"""Benchmark: projection rebuild and replay from a large log, next to the naive ORM baseline,
then supervisor query latency on the rebuilt database.

    python -m bench.rebuild [--events 1000000] [--baseline 20000] [--database sqlite|postgresql|both]

1. The log: the provincial workload (bench/workload.py) decided by the System's publishing
   stages (validator, deadline engine, grant keeper, notary: bench/deployment.py), run
   in-process chunk by chunk, each publishing its signed outputs to the embedded broker as in
   the service. The workload's first half is received before an instant, the rest after it.
2. Rebuild: what `govshare rebuild --into URL` runs (infra/cli/operator.py): the deployment's
   projector (infra/stages.projector: the target migrated, every record's stage signature and
   every checkpoint's trail signature checked) caught up with the log (projections/runner.
   catch_up), into an empty database, timed from start to end.
3. Replay: what `govshare replay --as-of T --into URL` runs (infra/cli/auditor.py), the same
   way, with T that instant in the middle of the log: the projections as they stood then.
   Reported beside the rebuild: the records in the log (both read all of it), the records
   applied, seconds, applied records/s.
4. Baseline: the first --baseline messages of the same log applied the naive way: one ORM
   session and one transaction per event (`session.add` of the event_log row, the same
   projection code on the session's connection, commit).
5. Query latency: each supervisor view (first page of 100, as `govshare query` shows it) run
   repeatedly on the rebuilt database.
Prints a table, writes bench/results/rebuild-<database>.json. Run on demand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, registry

from bench.common import fresh_database, percentile, rss_mib, save
from bench.deployment import Decided, deployment
from bench.keys import department_keys
from bench.workload import Province
from audit.trail import trail_record
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra import stages
from infra.broker import EmbeddedBroker
from infra.config import Settings
from infra.database import make_engine
from infra.system import SYSTEM
from infra.topics import cluster_id, ensure_topics
from projections import queries
from projections.apply import apply_event
from projections.runner import Projector, catch_up, log_row
from projections.tables import event_log, metadata
from runtime.message import from_kafka


class LoggedEvent:
    """The event_log row as a mapped class: the baseline writes it through the ORM."""


registry().map_imperatively(LoggedEvent, event_log)


@dataclass(frozen=True)
class Log:
    """A deployment's log, made by the System's publishing stages from a workload."""
    settings: Settings
    workload: int  # workload events submitted
    records: int  # records on the topics the projector reads: what a rebuild and a replay read
    middle: datetime  # every record of the workload's first half was made by then, none of the second


def build_log(settings: Settings, n: int, chunk: int = 5000) -> Log:
    """The workload decided by the System's publishing stages, in-process and chunk by chunk
    (so the catalog is decided before the requests that name it), each chunk received at the
    wall clock's time, as the broker would log it."""
    kafka = settings.kafka(settings.bootstrap_servers)
    topics = Topics(settings.topic_prefix)
    decided, signing = Decided(settings, kafka), department_keys()
    events = Province().events(n)
    half = len(events) // 2
    chunk = max(1, min(chunk, half))
    middle = None
    try:
        for start, end in ((0, half), (half, len(events))):
            for i in range(start, end, chunk):
                at = datetime.now(timezone.utc)
                decided.decide([to_inbox(parse_line(json.dumps(e, ensure_ascii=False), now=at, keys=signing), topics)
                                for e in events[i:min(i + chunk, end)]], at)
            middle = middle or datetime.now(timezone.utc)
    finally:
        decided.close()
    return Log(settings, len(events), decided.records(SYSTEM.inputs(Projector.name, topics)), middle)


def projected(log: Log, url: str, as_of: datetime | None = None) -> dict:
    """`govshare rebuild --into url`, or with `as_of` `govshare replay --as-of ... --into url`,
    as the commands run them (infra/cli/operator.py, infra/cli/auditor.py), timed from start
    to end. `records`: what is in the log, all of which both read; `applied`: what they
    applied (a replay: what was made by `as_of`)."""
    settings = log.settings
    kafka = settings.kafka(settings.bootstrap_servers)
    started = time.perf_counter()
    projector = stages.projector(url, settings, Topics(settings.topic_prefix), as_of=as_of)
    applied = catch_up(projector, SYSTEM.inputs(projector.name, projector.topics), kafka, cluster_id(kafka))
    seconds = time.perf_counter() - started
    return {"records": log.records, "applied": applied, "seconds": round(seconds, 2),
            "records_per_s": round(log.records / seconds), "applied_per_s": round(applied / seconds)}


def baseline(log: Log, url: str, n: int) -> dict:
    """One event per transaction through the ORM: how a first version would be written. The
    first `n` events of the log (or all of them, in a smaller log)."""
    settings = log.settings
    kafka, topics = settings.kafka(settings.bootstrap_servers), Topics(settings.topic_prefix)
    engine = make_engine(url)
    metadata.create_all(engine)
    consumer = Consumer({**kafka, "group.id": "bench-baseline", "enable.auto.commit": False})
    parts = consumer.list_topics(timeout=10).topics
    consumer.assign([TopicPartition(t, p, 0) for t in SYSTEM.outputs(topics) for p in parts[t].partitions])
    done, read, started = 0, 0, time.perf_counter()
    try:
        while done < n and read < log.records:
            for m in consumer.consume(min(500, n - done), timeout=1.0):
                if m.error() is not None:
                    continue
                read += 1
                record = trail_record(m.topic(), m.partition(), m.offset(), m.headers(), m.value(),
                                      dead_letter_topic=topics.dead_letters)
                incoming = from_kafka(m)
                if record.event is None:
                    continue
                with Session(engine) as session, session.begin():
                    if session.get(LoggedEvent, str(record.event.envelope.event_id)) is None:
                        row = LoggedEvent()
                        for k, v in log_row(incoming, record).items():
                            setattr(row, k, v)
                        session.add(row)
                        session.flush()
                        apply_event(record.event, session.connection())
                done += 1
    finally:
        consumer.close()
    seconds = time.perf_counter() - started
    return {"events": done, "seconds": round(seconds, 1), "events_per_s": round(done / seconds)}


VIEWS = {
    "catalog (published)": lambda e: queries.catalog(e, status="published", limit=100),
    "requests (pending)": lambda e: queries.request_list(e, status="pending", limit=100),
    "grants (open)": lambda e: queries.grant_list(e, status="open", limit=100),
    "accesses (violations)": lambda e: queries.access_list(e, violations_only=True, limit=100),
    "accesses (all)": lambda e: queries.access_list(e, limit=100),
    "deadlines (open)": lambda e: queries.deadline_list(e, status="open", limit=100),
    "objections (resolved)": lambda e: queries.objection_list(e, status="resolved", limit=100),
    "rejections": lambda e: queries.rejected(e, limit=100),
    "supervision": lambda e: queries.supervision(e, limit=100),
}


def query_latency(url: str, repeats: int) -> dict:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(event_log))
    out = {"event_log_rows": rows}
    for name, view in VIEWS.items():
        view(engine)  # warm the cache and the connection
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            view(engine)
            times.append((time.perf_counter() - started) * 1000)
        out[name] = {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2)}
    return out


def logged(broker: EmbeddedBroker, home: Path, n: int, prefix: str = "rb") -> Log:
    """A deployment on `broker` with its topics, and the log of an `n`-event workload on them."""
    topics = Topics(f"{prefix}{uuid.uuid4().hex[:6]}")
    settings = deployment(home, topics, broker.bootstrap)
    ensure_topics(settings.kafka(broker.bootstrap), topics, settings.partitions, 1)
    started = time.perf_counter()
    log = build_log(settings, n)
    print(f"log: {log.workload} workload events decided and acted on, {log.records} records "
          f"({time.perf_counter() - started:.0f} s); the middle: {log.middle.isoformat()}")
    return log


def measure(log: Log, database: str, home: Path, args) -> dict:
    target = fresh_database(database, home, f"rebuilt-{database}.db")
    results = {"database": database,
               "rebuild": projected(log, target),
               "replay": projected(log, fresh_database(database, home, f"replayed-{database}.db"), log.middle),
               "baseline_orm_one_per_transaction": baseline(
                   log, fresh_database(database, home, f"baseline-{database}.db"), args.baseline)}
    results["replay"]["as_of"] = log.middle.isoformat()
    results["rebuild_vs_baseline"] = round(results["rebuild"]["applied_per_s"]
                                           / results["baseline_orm_one_per_transaction"]["events_per_s"], 1)
    results["query_latency"] = query_latency(target, args.repeats)
    return results


def report(results: dict) -> None:
    b = results["baseline_orm_one_per_transaction"]
    print(f"\n{'measure (' + results['database'] + ')':40} {'records':>9} {'applied':>9} {'seconds':>8} "
          f"{'applied/s':>10} {'records/s':>10}")
    for name, shown in (("rebuild", "rebuild (govshare rebuild)"), ("replay", "replay --as-of the middle")):
        r = results[name]
        print(f"{shown:40} {r['records']:>9} {r['applied']:>9} {r['seconds']:>8} {r['applied_per_s']:>10} "
              f"{r['records_per_s']:>10}")
    print(f"{'baseline (ORM, one per transaction)':40} {'':>9} {b['events']:>9} {b['seconds']:>8} "
          f"{b['events_per_s']:>10}")
    print(f"{'rebuild / baseline':40} {results['rebuild_vs_baseline']:>9}x")
    print(f"\n{'query at ' + str(results['query_latency']['event_log_rows']) + ' events':40} {'p50 ms':>9} {'p99 ms':>8}")
    for name in VIEWS:
        q = results["query_latency"][name]
        print(f"{name:40} {q['p50_ms']:>9} {q['p99_ms']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both",
                        help="where to rebuild; the log is built once (state on SQLite) for all")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-rebuild-"))
    broker = EmbeddedBroker.start()
    try:
        log = logged(broker, home, args.events)
        for database in (["sqlite", "postgresql"] if args.database == "both" else [args.database]):
            results = measure(log, database, home, args)
            results |= {"workload_events": log.workload, "broker_rss_mib": rss_mib(broker.process.pid)}
            report(results)
            save(f"rebuild-{database}", results)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
