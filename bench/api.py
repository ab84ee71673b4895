"""Benchmark: the HTTP API's read latency on a filled projection database, next to the same query
functions called in-process (the peer), so what HTTP, auth and JSON add is visible.

    python -m bench.api [--events 200000] [--requests 200] [--database sqlite|postgresql]

1. The projections: bench.rebuild's log (the provincial workload decided by the System's
   publishing stages, the notary's signed checkpoints included, on the embedded broker),
   rebuilt as `govshare rebuild` does into a fresh database.
2. The API alone on it: `govshare run api` (a process of its own, as `govshare up` runs it) with
   GOVSHARE_DATABASE_URL pointing at that database, an audit token (so the API runs each view
   with no party filter, the very query the peer runs).
3. Each main GET view --requests times over one keep-alive connection, then the same function
   of projections/ the view calls, as many times, in this process: p50 and p99 of each.
Prints a table, writes bench/results/api-<database>.json. Run on demand, never in CI.

The issue asks for a million events; the default is what builds, rebuilds and measures within
about ten minutes on a two-core machine. The output says which scale ran.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.common import fresh_database, percentile, rss_mib, save
from bench.rebuild import logged, projected
from events import sharing
from infra.broker import EmbeddedBroker
from infra.database import make_engine
from projections import queries
from projections.scorecards import scorecards
from projections.tables import catalog_entries, event_log
from projections.trail import steps

ROOT = Path(__file__).resolve().parent.parent


def views(entry: str, aggregate: str) -> dict[str, tuple[str, object]]:
    """Each view: (the API path, the function it calls with the API's defaults), first page of 100."""
    return {
        "catalog": ("/v1/catalog?limit=100", lambda e: queries.catalog(e, limit=100)),
        "entry": (f"/v1/catalog/{entry}", lambda e: queries.entry(e, entry)),
        "requests": ("/v1/requests?limit=100", lambda e: queries.request_list(e, limit=100)),
        "grants": ("/v1/grants?limit=100", lambda e: queries.grant_list(e, limit=100)),
        "deadlines": ("/v1/deadlines?limit=100", lambda e: queries.deadline_list(e, limit=100)),
        "objections": ("/v1/objections?limit=100", lambda e: queries.objection_list(e, limit=100)),
        "rejections": ("/v1/rejections?limit=100", lambda e: queries.rejected(e, limit=100)),
        "scorecards": ("/v1/scorecards?period=month&limit=100",
                       lambda e: scorecards(e, period="month", limit=100)),
        "trail (one aggregate)": (f"/v1/trail?aggregate={aggregate}&limit=100",
                                  lambda e: steps(e, aggregate=aggregate, with_state=True, limit=100)),
    }


def start_api(url: str, home: Path) -> tuple[subprocess.Popen, int, str]:
    """`govshare run api` on the database, with an audit token; (process, port, token)."""
    from tests.conftest import free_port
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env |= {"GOVSHARE_HOME": str(home), "GOVSHARE_DATABASE_URL": url, "GOVSHARE_API_PORT": str(port),
            "GOVSHARE_LOG_LEVEL": "WARNING",
            # The benchmark is one token asking as fast as it can: not the rate a caller is held to.
            "GOVSHARE_API_RATE_PER_MINUTE": "100000000"}
    issued = subprocess.run([sys.executable, "-m", "infra.cli", "api-token", "issue", "--department",
                             "gd-hrss", "--scope", "audit"], env=env, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    if issued.returncode != 0:
        raise SystemExit(f"bench.api: no token: {issued.stderr.strip()}")
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", "api"], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port, issued.stdout.strip()
        except OSError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"bench.api: govshare run api exited with {process.returncode}")
        time.sleep(0.1)  # bench only: waiting for a process to listen
    raise SystemExit("bench.api: the API did not answer within 60 s")


def timed(call, n: int) -> dict:
    call()  # warm: the connection, caches, the first import
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2)}


def measure(url: str, home: Path, n: int) -> dict:
    engine = make_engine(url, read_only=True)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(event_log))
        entry = conn.scalar(select(catalog_entries.c.entry_id).order_by(catalog_entries.c.entry_id).limit(1))
        # The share request with most events: the longest trail an aggregate has here.
        aggregate = conn.execute(select(event_log.c.aggregate_id, func.count().label("n"))
                                 .where(event_log.c.aggregate_type == sharing.REQUEST)
                                 .group_by(event_log.c.aggregate_id).order_by(func.count().desc())
                                 .limit(1)).first()
    aggregate_id = aggregate.aggregate_id if aggregate else entry
    process, port, token = start_api(url, home)
    out = {"event_log_rows": rows, "entry": entry, "aggregate": aggregate_id, "requests_each": n, "views": {}}
    try:
        client = {"conn": http.client.HTTPConnection("127.0.0.1", port, timeout=60)}

        def get(path: str):
            try:
                client["conn"].request("GET", path, headers={"Authorization": f"Bearer {token}"})
                answer = client["conn"].getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # uvicorn closes a keep-alive connection idle for 5 s (while the in-process side
                # was timed): open a new one, as any HTTP client does.
                client["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                client["conn"].request("GET", path, headers={"Authorization": f"Bearer {token}"})
                answer = client["conn"].getresponse()
            body = answer.read()
            if answer.status != 200:
                raise SystemExit(f"bench.api: GET {path}: {answer.status} {body[:300]!r}")
            return json.loads(body)

        for name, (path, direct) in views(entry, aggregate_id).items():
            shown = get(path)
            items = shown.get("items") if isinstance(shown, dict) and "items" in shown else [shown]
            out["views"][name] = {"path": path, "rows": len(items),
                                  "http": timed(lambda: get(path), n),
                                  "direct": timed(lambda: direct(engine), n)}
        out["api_rss_mib"] = rss_mib(process.pid)
    finally:
        process.terminate()
        process.wait(30)
    return out


def report(results: dict) -> None:
    m = results["api"]
    print(f"\nAPI latency, {results['database']}: {results['workload_events']} workload events asked, "
          f"{m['event_log_rows']} in event_log; {m['requests_each']} requests per view (first page of 100)")
    print(f"{'view':24} {'rows':>5} {'HTTP p50':>9} {'HTTP p99':>9} {'direct p50':>11} {'direct p99':>11} {'overhead p50':>13}")
    for name, v in m["views"].items():
        h, d = v["http"], v["direct"]
        print(f"{name:24} {v['rows']:>5} {h['p50_ms']:>9} {h['p99_ms']:>9} {d['p50_ms']:>11} {d['p99_ms']:>11} "
              f"{round(h['p50_ms'] - d['p50_ms'], 2):>13}")
    print("(ms; direct: the same projections/ function in-process, the peer)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000,
                        help="workload events (the issue's scale is 1000000; about 10 min at 200000 on 2 cores)")
    parser.add_argument("--requests", type=int, default=200, help="requests per view, each side")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-api-"))
    broker = EmbeddedBroker.start()
    try:
        log = logged(broker, home, args.events, prefix="ap")
        target = fresh_database(args.database, home, f"projections-{args.database}.db")
        built = projected(log, target)
        print(f"projections: {built['applied']} records rebuilt in {built['seconds']} s")
    finally:
        broker.stop()  # the API reads the database only: the broker's memory is given back first
    results = {"database": args.database, "workload_events": log.workload, "rebuild": built,
               "api": measure(target, home / "api-home", args.requests)}
    report(results)
    save(f"api-{args.database}", results)


if __name__ == "__main__":
    main()
