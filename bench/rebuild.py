"""Benchmark: projection rebuild from the start of a large log, next to the naive ORM baseline,
then supervisor query latency on the rebuilt database.

    python -m bench.rebuild [--events 1000000] [--baseline 20000] [--database sqlite|postgresql]

1. The log: the provincial workload (bench/workload.py) decided by the real validator, plus
   what the real grant keeper and deadline engine emit for it (grants, usage violations,
   deadlines), all run in-process, batch by batch, publishing to the embedded broker.
2. Rebuild: govshare's projector (`Projector.catch_up`, as `govshare rebuild`) into an empty
   database, timed.
3. Baseline: the first --baseline messages of the same log applied the naive way: one ORM
   session and one transaction per event (`session.add` of the event_log row, the same
   projection code on the session's connection, commit).
4. Query latency: each supervisor view (first page of 100, as `govshare query` shows it) run
   repeatedly on the rebuilt database.
Prints a table, writes bench/results/rebuild-<database>.json. Run on demand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import func, select
from sqlalchemy.orm import Session, registry

from bench.common import fresh_database, percentile, rss_mib, save
from bench.keys import department_keys, key_dir
from bench.workload import Province
from audit.provenance import StageKeys
from events.publisher import Publisher
from events.submission import parse_line, to_inbox
from events.topics import AGGREGATE_TYPES, Topics
from audit.trail import trail_record
from infra.broker import EmbeddedBroker
from infra.database import make_engine
from infra.topics import ensure_topics
from processors.grant_keeper import GrantKeeper
from processors.profiles import load_all
from processors.deadline_engine import Scheduler
from processors.validator import Validator
from projections import queries
from projections.apply import apply_event
from projections.runner import Projector, catch_up, log_row
from runtime.loop import Runner
from runtime.message import Incoming, from_kafka
from projections.tables import event_log, metadata


class LoggedEvent:
    """The event_log row as a mapped class: the baseline writes it through the ORM."""


registry().map_imperatively(LoggedEvent, event_log)


# The bench deployment's stage keys: the stages sign their outputs, the projector checks them.
KEYS = StageKeys.generated()


def build_log(kafka: dict, topics: Topics, n: int, state_url: str, chunk: int = 5000) -> int:
    """The real validator decides the workload (in-process, batch by batch, so the catalog is
    decided before the requests that name it); the real grant keeper and deadline engine act
    on what it accepted; each publishes its outputs to the log as in the service."""
    now = datetime.now(timezone.utc)
    publisher = Publisher(kafka)
    state = make_engine(state_url)
    validator = Runner(Validator(state, load_all(), topics, publisher, keys=KEYS, department_keys=key_dir()),
                       "bench")
    keeper = Runner(GrantKeeper(state, load_all(), topics, publisher, keys=KEYS), "bench")
    scheduler = Runner(Scheduler(state, load_all(), topics, publisher, keys=KEYS), "bench")
    events, signing = Province().events(n), department_keys()
    accepted_topics = {topics.events(a) for a in AGGREGATE_TYPES}
    offset = 0
    for i in range(0, len(events), chunk):
        inbox = [to_inbox(parse_line(json.dumps(e, ensure_ascii=False), now=now, keys=signing), topics)
                 for e in events[i:i + chunk]]
        incoming = [Incoming(o.topic, 0, offset + j, now, o.key, o.value, o.headers) for j, o in enumerate(inbox)]
        offset += len(inbox)
        outputs = [o for _, o in validator.process(incoming)]
        accepted = [Incoming(o.topic, 0, offset + j, now, o.key, o.value, o.headers)
                    for j, o in enumerate(outputs) if o.topic in accepted_topics]
        keeper.process(accepted)
        scheduler.process(accepted)
    return len(events)


def rebuild(kafka: dict, topics: Topics, url: str) -> dict:
    engine = make_engine(url)
    started = time.perf_counter()
    # No notary runs here, so no checkpoint reaches the log: no trail key to check one with.
    projector = Projector(engine, topics, ring=KEYS.ring, trail_keys=lambda: None)
    applied = catch_up(projector, kafka, "bench", timeout=7200, batch=5000)
    seconds = time.perf_counter() - started
    return {"events": applied, "seconds": round(seconds, 1), "events_per_s": round(applied / seconds)}


def baseline(kafka: dict, topics: Topics, url: str, n: int) -> dict:
    """One event per transaction through the ORM: how a first version would be written."""
    engine = make_engine(url)
    metadata.create_all(engine)
    consumer = Consumer({**kafka, "group.id": "bench-baseline", "enable.auto.commit": False})
    parts = consumer.list_topics(timeout=10).topics
    consumer.assign([TopicPartition(t, p, 0) for t in topics.outputs() for p in parts[t].partitions])
    done, started = 0, time.perf_counter()
    try:
        while done < n:
            for m in consumer.consume(min(500, n - done), timeout=1.0):
                if m.error() is not None:
                    continue
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


def measure(kafka: dict, topics: Topics, database: str, home: Path, args) -> dict:
    target = fresh_database(database, home, f"rebuilt-{database}.db")
    results = {"database": database,
               "rebuild": rebuild(kafka, topics, target),
               "baseline_orm_one_per_transaction": baseline(
                   kafka, topics, fresh_database(database, home, f"baseline-{database}.db"), args.baseline)}
    results["rebuild_vs_baseline"] = round(results["rebuild"]["events_per_s"]
                                           / results["baseline_orm_one_per_transaction"]["events_per_s"], 1)
    results["query_latency"] = query_latency(target, args.repeats)
    return results


def report(results: dict) -> None:
    r, b = results["rebuild"], results["baseline_orm_one_per_transaction"]
    print(f"\n{'measure (' + results['database'] + ')':40} {'events':>9} {'seconds':>8} {'events/s':>9}")
    print(f"{'rebuild (govshare projector)':40} {r['events']:>9} {r['seconds']:>8} {r['events_per_s']:>9}")
    print(f"{'baseline (ORM, one per transaction)':40} {b['events']:>9} {b['seconds']:>8} {b['events_per_s']:>9}")
    print(f"{'ratio':40} {results['rebuild_vs_baseline']:>9}x")
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
        kafka = {"bootstrap.servers": broker.bootstrap}
        topics = Topics(f"rb{uuid.uuid4().hex[:6]}")
        ensure_topics(kafka, topics, 3, 1)
        started = time.perf_counter()
        published = build_log(kafka, topics, args.events, fresh_database("sqlite", home, "state.db"))
        print(f"log: {published} workload events decided and acted on ({time.perf_counter() - started:.0f} s)")
        for database in (["sqlite", "postgresql"] if args.database == "both" else [args.database]):
            results = measure(kafka, topics, database, home, args)
            results |= {"workload_events": published, "broker_rss_mib": rss_mib(broker.process.pid)}
            report(results)
            save(f"rebuild-{database}", results)
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
