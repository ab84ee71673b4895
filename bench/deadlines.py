"""Benchmark: deadline firing lag with many pending deadlines and a burst falling due at once.

    python -m bench.deadlines [--pending 1000000] [--burst 10000] [--database sqlite|postgresql]

Prints a table and writes bench/results/deadlines-<database>.json. Run on demand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert

from bench.common import fresh_database, percentile, save
from bench.deployment import deployment, stage
from events.publisher import Publisher
from events.records import to_json
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.database import make_engine
from infra.topics import ensure_topics
from processors.rules import deadlines as rules
from processors import store
from processors.deadline_engine import Scheduler

DUE = datetime(2026, 10, 15, 16, 0, tzinfo=timezone.utc)
FAR = datetime(2027, 6, 30, 16, 0, tzinfo=timezone.utc)


def _rows(n: int, due: datetime, prefix: str):
    template = rules.Deadline(
        deadline_id="", kind=rules.CATALOG_UPDATE, subject_type="catalog-entry", subject_id="",
        obligation_id="ob", party="hb-civil", policy_id="hebei-2023", started_on=date(2026, 9, 25),
        last_day=date(2026, 10, 15), due_at=due, warn_at=None, sequence=1)
    for i in range(n):
        d = replace(template, deadline_id=str(uuid.uuid4()), subject_id=f"{prefix}-{i}")
        yield dict(deadline_id=d.deadline_id, subject_id=d.subject_id, kind=d.kind, status="open",
                   sequence=d.sequence,
                   next_fire_at=store.micros(due), state=json.dumps(to_json(d)))


def _load(engine, n: int, due: datetime, prefix: str, chunk: int = 20000) -> None:
    batch = []
    for row in _rows(n, due, prefix):
        batch.append(row)
        if len(batch) == chunk:
            with engine.begin() as tx:
                tx.execute(insert(store.deadlines), batch)
            batch = []
    if batch:
        with engine.begin() as tx:
            tx.execute(insert(store.deadlines), batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    url = fresh_database(args.database, home, "state.db")
    broker = EmbeddedBroker.start()
    try:
        kafka = {"bootstrap.servers": broker.bootstrap}
        topics = Topics(f"dl{uuid.uuid4().hex[:6]}")
        ensure_topics(kafka, topics, 3, 1)
        settings = deployment(home, topics, broker.bootstrap, url)
        engine = make_engine(url)
        scheduler = stage(Scheduler.name, settings, Publisher(kafka))
        scheduler.start()
        started = time.perf_counter()
        _load(engine, args.pending - args.burst, FAR, "later")
        _load(engine, args.burst, DUE, "burst")
        load_s = time.perf_counter() - started

        idle_started = time.perf_counter()
        assert scheduler.tick(DUE - timedelta(seconds=1)) == 0
        idle_ms = (time.perf_counter() - idle_started) * 1000

        published: list[tuple[float, int]] = []
        publish = scheduler.outbox.publish

        def timed(rows):
            publish(rows)
            published.append((time.perf_counter(), sum(1 for _, o in rows
                                                        if b"DeadlineBreached" in dict(o.headers)["ce_type"])))
        scheduler.outbox.publish = timed
        tick_started = time.perf_counter()
        emitted = scheduler.tick(DUE)
        tick_s = time.perf_counter() - tick_started
        lags = [t - tick_started for t, breaches in published for _ in range(breaches)]
        result = {
            "database": args.database, "pending": args.pending, "burst": args.burst,
            "load_seconds": round(load_s, 1), "idle_tick_ms": round(idle_ms, 2),
            "burst_events_emitted": emitted, "burst_seconds": round(tick_s, 2),
            "breaches_per_s": round(args.burst / tick_s),
            "firing_lag_p50_s": round(percentile(lags, 0.5), 3),
            "firing_lag_p99_s": round(percentile(lags, 0.99), 3),
        }
    finally:
        broker.stop()
    print(f"\n{'measure':34} value")
    for k, v in result.items():
        print(f"{k:34} {v}")
    save(f"deadlines-{args.database}", result)


if __name__ == "__main__":
    main()
