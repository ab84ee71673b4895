"""Benchmark: publish rate and end-to-end throughput/latency on the embedded broker.

    python -m bench.pipeline [--events N] [--database sqlite|postgresql]

Prints a table and writes bench/results/pipeline-<database>.json. Run on demand, never in CI.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import func, select

from bench.common import fresh_database, percentile, save
from events.publisher import Publisher
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.database import make_engine
from projections.tables import event_log

DEPARTMENTS = ["gd-hrss", "gd-psb", "gd-amr", "gd-health"]


def workload(n: int) -> list:
    """Registrations across providers and share types; one in ten breaks a rule."""
    now = datetime.now(timezone.utc)
    events = []
    for i in range(n):
        restricted = i % 10 == 0
        line = {"type": "EntryRegistered", "aggregate_id": f"bench-{uuid.uuid4().hex[:12]}",
                "sequence": 1, "policy": "guangdong-2018",
                "actor": {"department": DEPARTMENTS[i % 4], "person": "bench", "role": "PROVIDER"},
                "payload": {"attributes": {
                    "title": f"资源{i}", "description": "d", "classification": "c",
                    "business_name": "b", "information_system": "s",
                    "data_items": [{"code": f"B.{i}.{j}", "name": f"item {j}"} for j in range(3)],
                    "share_type": "CONDITIONAL" if restricted else "UNCONDITIONAL",
                    "share_methods": ["INTERFACE"], "storage_format": "table",
                    "update_frequency": "daily", "security_level": "L2", "usage_scope": "all"}}}
        events.append(parse_line(json.dumps(line), now=now))
    return events


def measure_publish(broker: EmbeddedBroker, n: int) -> dict:
    topics = Topics(f"pub{uuid.uuid4().hex[:6]}")
    kafka = {"bootstrap.servers": broker.bootstrap}
    from infra.topics import ensure_topics
    ensure_topics(kafka, topics, 3, 1)
    messages = [to_inbox(e, topics) for e in workload(n)]
    publisher = Publisher(kafka)
    start = time.perf_counter()
    publisher.publish(messages)
    elapsed = time.perf_counter() - start
    return {"events": n, "seconds": round(elapsed, 3), "events_per_s": round(n / elapsed)}


def measure_end_to_end(broker: EmbeddedBroker, n: int, database_url: str, home: Path) -> dict:
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "GOVSHARE_HOME": str(home), "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
           "GOVSHARE_TOPIC_PREFIX": prefix, "GOVSHARE_DATABASE_URL": database_url}
    log = home / "service.log"
    service = subprocess.Popen([sys.executable, "-m", "infra.cli", "up"], env=env,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        while "service.ready" not in log.read_text(errors="replace"):
            if service.poll() is not None:
                raise SystemExit(log.read_text())
            time.sleep(0.1)
        topics = Topics(prefix)
        messages = [to_inbox(e, topics) for e in workload(n)]
        engine = make_engine(database_url)
        publisher = Publisher({"bootstrap.servers": broker.bootstrap})
        published_at: list[float] = []
        start = time.perf_counter()
        chunk = 500
        for i in range(0, n, chunk):
            publisher.publish(messages[i:i + chunk])
            published_at.extend([time.perf_counter()] * len(messages[i:i + chunk]))
        publish_done = time.perf_counter()
        visible_at: list[float] = []
        seen = 0
        while seen < n:
            with engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(event_log)).scalar_one()
            now = time.perf_counter()
            visible_at.extend([now] * (count - seen))
            seen = count
            if now - start > 3600:
                break
            time.sleep(0.02)
        elapsed = visible_at[-1] - start
        latencies = [v - p for v, p in zip(visible_at, published_at)]
        return {"events": n, "seconds": round(elapsed, 2), "events_per_s": round(n / elapsed),
                "publish_seconds": round(publish_done - start, 2),
                "latency_p50_s": round(percentile(latencies, 0.5), 3),
                "latency_p99_s": round(percentile(latencies, 0.99), 3)}
    finally:
        service.terminate()
        service.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    url = fresh_database(args.database, home, "govshare.db")
    broker = EmbeddedBroker.start()
    try:
        results = {"database": args.database,
                   "publish_acks_all_idempotent": measure_publish(broker, args.events),
                   "end_to_end": measure_end_to_end(broker, args.events, url, home)}
    finally:
        broker.stop()
    print(f"\n{'measure':38} {'events':>8} {'seconds':>8} {'events/s':>9} {'p50 s':>7} {'p99 s':>7}")
    for name, r in results.items():
        if isinstance(r, dict):
            print(f"{name + ' (' + args.database + ')':38} {r['events']:>8} {r['seconds']:>8} "
                  f"{r['events_per_s']:>9} {r.get('latency_p50_s', ''):>7} {r.get('latency_p99_s', ''):>7}")
    save(f"pipeline-{args.database}", results)


if __name__ == "__main__":
    main()
