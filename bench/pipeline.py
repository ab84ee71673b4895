"""Benchmark: publish rate, and end-to-end throughput and latency through the running service.

    python -m bench.pipeline [--events 200000] [--paced-seconds 30] [--database sqlite|postgresql]
                             [--processes 'validator*2 deadlines+grants notary+projector']
                             [--batch-signed 100]

The workload is bench/workload.py's provincial mix. Three measures on one embedded Tansu:
1. publish: the whole workload to the inboxes with acks=all and idempotence;
2. sustained: the same workload published as fast as it goes into a running `govshare up`
   (its catalog phase first, waited for, untimed), timed until every event is visible in the
   projections (accepted in event_log, or a
   rejection); throughput is events over that time, and each event's latency is from its
   publish to the first sample (taken every 50 ms while publishing) that counted it (the
   count grows in publish order to within a batch, so this is a close upper bound);
3. paced: a fresh stream at half the sustained rate for --paced-seconds, for latency below
   saturation.
Then the resident memory of the broker and of the service's processes (the stages as
--processes places them, default the System's, and the HTTP API), and the Ed25519 operations
the stage processes counted over the whole run (each logs them as it stops). Last, with the
service stopped, the peer:
4. the same workload (the same two phases) through a pyeventsourcing application with the same
   rule checks and a projection (bench/peer.py; the `eventsourcing` package, a bench-only
   dependency) on a fresh database of the same kind, timed the same way, and the ratio of
   govshare's sustained rate to the peer's. Skipped with --paced-rate.
Prints a table, writes bench/results/pipeline-<database>.json. Run on demand, never in CI.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench.common import (
    fresh_database,
    percentile,
    process_cpu_seconds,
    rss_mib,
    save,
    stage_cpu_seconds,
    tree_rss_mib,
)
from bench.workload import Province
from events.publisher import Publisher
from bench.keys import department_keys, key_dir
from events.codec import Event, encode_payload
from events.signing import Keystore
from events.submission import parse_line, to_inbox
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.database import make_engine
from infra.system import SYSTEM
from infra.topics import ensure_topics
from projections import queries


def messages(events: list[dict], topics: Topics, batch_signed: int = 1) -> list:
    """The workload as inbox messages, signed with each department's key before the clock starts
    (bench/keys.py): each event alone, or (`batch_signed` N > 1) each department's events in
    batches of N under one signature (events/signing.py), in the workload's order."""
    now, keys = datetime.now(timezone.utc), department_keys()
    if batch_signed <= 1:
        return [to_inbox(parse_line(json.dumps(e, ensure_ascii=False), now=now, keys=keys), topics) for e in events]
    parsed = [parse_line(json.dumps(e, ensure_ascii=False), now=now, keys=Keystore()) for e in events]
    pending: dict[str, list[int]] = {}

    def sign(department: str) -> None:
        places = pending.pop(department)
        envelopes = keys.for_department(department).sign_batch(
            [(parsed[i].envelope, encode_payload(parsed[i].payload)) for i in places])
        for i, envelope in zip(places, envelopes):
            parsed[i] = Event(envelope, parsed[i].payload)

    for i, event in enumerate(parsed):
        department = event.envelope.actor.department
        pending.setdefault(department, []).append(i)
        if len(pending[department]) == batch_signed:
            sign(department)
    for department in list(pending):
        sign(department)
    return [to_inbox(event, topics) for event in parsed]


def measure_publish(broker: EmbeddedBroker, events: list[dict], batch_signed: int = 1) -> dict:
    topics = Topics(f"pub{uuid.uuid4().hex[:6]}")
    kafka = {"bootstrap.servers": broker.bootstrap}
    ensure_topics(kafka, topics, 3, 1)
    batch = messages(events, topics, batch_signed)
    publisher = Publisher(kafka)
    start = time.perf_counter()
    publisher.publish(batch)
    elapsed = time.perf_counter() - start
    return {"events": len(batch), "seconds": round(elapsed, 2), "events_per_s": round(len(batch) / elapsed)}


def start_service(broker: EmbeddedBroker, database_url: str, home: Path, prefix: str,
                  processes: str = "", extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "GOVSHARE_HOME": str(home), "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
           "GOVSHARE_TOPIC_PREFIX": prefix, "GOVSHARE_DATABASE_URL": database_url,
           "GOVSHARE_DEPARTMENT_KEYS": str(key_dir()), "GOVSHARE_PROCESSES": processes, **(extra or {})}
    log = home / "service.log"
    service = subprocess.Popen([sys.executable, "-m", "infra.cli", "up"], env=env,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    while "service.ready" not in log.read_text(errors="replace"):
        if service.poll() is not None:
            raise SystemExit(log.read_text())
        time.sleep(0.1)
    return service


def public_key_operations(log: Path) -> dict[str, int]:
    """The Ed25519 verifies and signatures every stage process made, as each logged them when it
    stopped (events/signing.OPERATIONS): counted, not estimated."""
    found = {"verify": 0, "sign": 0}
    for line in log.read_text(errors="replace").splitlines():
        if "stage.stopped" in line:
            for kind, count in re.findall(r"\b(verif|sign)(?:ies|s)=(\d+)", line):
                found["verify" if kind == "verif" else "sign"] += int(count)
    return found


def decided(engine) -> int:
    c = queries.counts(engine)
    return c["accepted"] + c["rejected"]


class Visibility:
    """Samples, while the publisher runs, how many of the published events are visible."""

    def __init__(self, engine):
        self.engine, self.base = engine, decided(engine)
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), decided(self.engine) - self.base))
            self.stop.wait(0.05)

    def visible_at(self, n: int) -> list[float]:
        """For each of the first n events, the first sample that counted it."""
        out: list[float] = []
        for at, count in self.samples:
            out.extend([at] * (min(count, n) - len(out)))
        return out


def drive(publisher: Publisher, batch: list, engine, rate: float | None, timeout: float) -> dict:
    """Publish `batch` (at `rate` events/s, or as fast as it goes) and follow what becomes visible."""
    seen = Visibility(engine)
    seen.thread.start()
    published_at: list[float] = []
    start = time.perf_counter()
    chunk = 500 if rate is None else max(1, int(rate / 20))
    for i in range(0, len(batch), chunk):
        part = batch[i:i + chunk]
        if rate is not None:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)  # pacing the offered load, not waiting for a result
        publisher.publish(part)
        published_at.extend([time.perf_counter()] * len(part))
    publish_done = time.perf_counter()
    while (not seen.samples or seen.samples[-1][1] < len(batch)) and time.perf_counter() - start < timeout:
        seen.stop.wait(0.1)
    seen.stop.set()
    seen.thread.join()
    visible_at = seen.visible_at(len(batch))
    if len(visible_at) < len(batch):
        raise SystemExit(f"only {len(visible_at)} of {len(batch)} events visible after {timeout}s")
    elapsed = visible_at[-1] - start
    latencies = [v - p for v, p in zip(visible_at, published_at)]
    return {"events": len(batch), "seconds": round(elapsed, 2), "events_per_s": round(len(batch) / elapsed),
            "publish_seconds": round(publish_done - start, 2),
            "latency_p50_s": round(percentile(latencies, 0.5), 3),
            "latency_p99_s": round(percentile(latencies, 0.99), 3)}


def _cpu(service_pid: int, broker_pid: int) -> dict[str, float]:
    """CPU seconds so far of each stage process and of the broker."""
    return {**stage_cpu_seconds(service_pid), "broker": process_cpu_seconds(broker_pid)}


def _quiet_cpu(service_pid: int, broker_pid: int, timeout: float = 600) -> dict[str, float]:
    """The CPU seconds once every stage has finished what the run gave it (the notary, the
    grant keeper and the deadline engine may still be at work when the projections show the
    last event): the total grows by less than a fifth of a core for a second."""
    last, deadline = _cpu(service_pid, broker_pid), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)  # sampling the CPU counters, not waiting for a result
        now = _cpu(service_pid, broker_pid)
        # The stages idle cost a few percent of a core; the broker answering their empty fetches
        # a fifth (GOVSHARE_FETCH_WAIT), so it does not say whether the stages are done.
        stages = [name for name in now if name != "broker"]
        if sum(now[n] for n in stages) - sum(last.get(n, 0.0) for n in stages) < 0.2:
            return now
        last = now
    return last


def measure_end_to_end(broker: EmbeddedBroker, workload: Province, events: tuple[list, list],
                       paced_seconds: float, database_url: str, home: Path,
                       paced_rate: float | None = None, processes: str = "", batch_signed: int = 1) -> dict:
    """The catalog phase goes first and is waited for (see Province.phases); the traffic
    phase is what is timed."""
    prefix = f"e2e{uuid.uuid4().hex[:6]}"
    service = start_service(broker, database_url, home, prefix, processes)
    try:
        topics = Topics(prefix)
        engine = make_engine(database_url, read_only=True)
        publisher = Publisher({"bootstrap.servers": broker.bootstrap})
        catalog, traffic = events
        drive(publisher, messages(catalog, topics, batch_signed), engine, None, timeout=3600)
        if paced_rate:
            sustained, rate = None, paced_rate
        else:
            batch = messages(traffic, topics, batch_signed)
            cpu_before = _cpu(service.pid, broker.process.pid)
            sustained = drive(publisher, batch, engine, None, timeout=7200)
            sustained["catalog_events_first"] = len(catalog)
            sustained["cpu_us_per_event"] = {
                name: round((spent - cpu_before.get(name, 0.0)) * 1e6 / len(batch))
                for name, spent in _quiet_cpu(service.pid, broker.process.pid).items()}
            rate = sustained["events_per_s"] / 2
        more = Province(seed=11)
        more.entries, more.grants = list(workload.entries), list(workload.grants)
        paced_events = more.phases(max(100, int(rate * paced_seconds)))[1]
        paced = drive(publisher, messages(paced_events, topics, batch_signed), engine, rate, timeout=600)
        paced["offered_per_s"] = round(rate)
        # What the workload's events came to (the peer reports the same): a signature or a rule
        # that refused the workload wholesale would show here, not hide in a throughput figure.
        verdicts = queries.counts(engine)
        memory = {"broker_mib": rss_mib(broker.process.pid), "service_mib": tree_rss_mib(service.pid)}
        memory["total_mib"] = memory["broker_mib"] + memory["service_mib"]
    finally:
        service.terminate()
        service.wait(60)
    # Over the whole run (catalog, sustained and paced phases), per event decided.
    operations = public_key_operations(home / "service.log")
    decided_events = verdicts["accepted"] + verdicts["rejected"] + verdicts["dead_lettered"]
    operations["per_event"] = round((operations["verify"] + operations["sign"]) / max(1, decided_events), 3)
    return {"sustained": sustained, "paced": paced, "memory_at_end": memory, "verdicts": verdicts,
            "public_key_operations": operations}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--paced-seconds", type=float, default=30)
    parser.add_argument("--paced-rate", type=float, help="skip the sustained run; pace at this rate")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--processes", default="",
                        help="the service's GOVSHARE_PROCESSES, e.g. 'validator*2 deadlines+grants "
                             "notary+projector' (default: the System's placement)")
    parser.add_argument("--batch-signed", type=int, default=1, metavar="N",
                        help="departments sign their events in batches of N under one signature "
                             "(govshare sign --batch N; default 1: each event alone)")
    args = parser.parse_args()
    if not args.paced_rate and importlib.util.find_spec("eventsourcing") is None:
        # Said before the run, not after ten minutes of it.
        parser.error("the peer (bench/peer.py) needs the bench extra: pip install -e '.[bench]' "
                     "(or --paced-rate R: no sustained run, no peer)")
    load_before = os.getloadavg()  # before anything of the run starts: what else the machine was doing
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    url = fresh_database(args.database, home, "govshare.db")
    workload = Province()
    events = workload.phases(args.events)
    broker = EmbeddedBroker.start()
    try:
        publish = measure_publish(broker, events[0] + events[1], args.batch_signed)
        results = {"database": args.database, "workload_events": len(events[0]) + len(events[1]),
                   "processes": args.processes or SYSTEM.processes, "batch_signed": args.batch_signed,
                   "load_before": load_before,
                   "publish_acks_all_idempotent": publish,
                   **measure_end_to_end(broker, workload, events, args.paced_seconds, url, home,
                                        args.paced_rate, args.processes, args.batch_signed)}
    finally:
        broker.stop()
    if not args.paced_rate:
        from bench.peer import run as run_peer  # needs eventsourcing, a bench-only dependency
        results["peer"] = run_peer(events, fresh_database(args.database, home, "peer.db"))
        results["ratio_govshare_to_peer"] = round(
            results["sustained"]["events_per_s"] / results["peer"]["events_per_s"], 2)
    print(f"\n{'measure (' + args.database + ')':36} {'events':>8} {'seconds':>8} {'events/s':>9} "
          f"{'p50 s':>8} {'p99 s':>8}")
    for name in ("publish_acks_all_idempotent", "sustained", "paced"):
        r = results[name]
        if r is None:
            continue
        print(f"{name:36} {r['events']:>8} {r['seconds']:>8} {r['events_per_s']:>9} "
              f"{r.get('latency_p50_s', ''):>8} {r.get('latency_p99_s', ''):>8}")
    if "peer" in results:
        r = results["peer"]
        print(f"{'peer (pyeventsourcing)':36} {r['events']:>8} {r['seconds']:>8} {r['events_per_s']:>9}")
        print(f"{'ratio govshare/peer':36} {'':>8} {'':>8} {results['ratio_govshare_to_peer']:>9}")
    v, peer = results["verdicts"], results.get("peer", {})
    print(f"{'verdicts govshare (all phases)':36} accepted {v['accepted']}, rejected {v['rejected']}, "
          f"dead-lettered {v['dead_lettered']}" + (f"; peer accepted {peer['accepted']}, rejected "
                                                    f"{peer['rejected']}" if peer else ""))
    m = results["memory_at_end"]
    print(f"{'resident memory at end (MiB)':36} broker {m['broker_mib']}, service {m['service_mib']}, "
          f"total {m['total_mib']}")
    ops = results["public_key_operations"]
    print(f"{'public-key operations (whole run)':36} verify {ops['verify']}, sign {ops['sign']}, "
          f"{ops['per_event']} per decided event")
    print(f"{'processes; batch signed; load before':36} {results['processes']}; {args.batch_signed}; "
          + " ".join(f"{x:.2f}" for x in results["load_before"]))
    if results["sustained"]:
        cpu = results["sustained"]["cpu_us_per_event"]
        print(f"{'CPU per event (µs), sustained':36} " + ", ".join(f"{k} {v}" for k, v in cpu.items()))
    save(f"pipeline-{'paced-' if args.paced_rate else ''}{args.database}", results)


if __name__ == "__main__":
    main()
