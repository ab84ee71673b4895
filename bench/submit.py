"""Benchmark: POST /v1/events through a running `govshare up`, as a department's system uses it.

    python -m bench.submit [--requests 1000] [--rate 50] [--batches 20] [--batch-size 500]
                           [--database sqlite|postgresql]

1. One event a request, paced at --rate requests a second over one keep-alive connection: the
   latency of each answer (the API publishes the event and waits for the validator's verdict),
   p50 and p99.
2. --batches requests of --batch-size lines each, one after another: lines per second, each
   batch answered with every line's verdict.
The events are the provider gd-hrss's catalog registrations (each a new entry, accepted), signed
with its key before the clock starts (`govshare sign`; the batches each under one batch
signature, `govshare sign --batch`), with a write token of gd-hrss. The peer is the same events
published by `govshare submit`'s path (infra/submit.py, the Submitter the API itself uses) in
this process, without HTTP, tokens or JSON answers: what the HTTP layer adds is the difference.
Prints a table, writes bench/results/submit-<database>.json. Run on demand, never in CI.
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
import uuid
from datetime import datetime, timezone
from pathlib import Path

from bench.common import fresh_database, percentile, save
from bench.keys import department_keys
from bench.pipeline import start_service
from events.signing import Keystore
from events.submission import fixed_line, signed_lines
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.submit import Submitter
from tests.builders import registered

ROOT = Path(__file__).resolve().parent.parent
DEPARTMENT = "gd-hrss"


def lines(n: int, batch: int = 1) -> list[str]:
    """n signed registrations of new entries: each line alone, or in batches under one signature."""
    now, keys = datetime.now(timezone.utc), department_keys()
    fixed = [fixed_line(json.dumps(registered(f"bench-{uuid.uuid4().hex[:12]}", department=DEPARTMENT),
                                   ensure_ascii=False), now=now) for _ in range(n)]
    return [line for i in range(0, n, batch) for line in signed_lines(fixed[i:i + batch], keys)]


def token(env: dict[str, str]) -> str:
    issued = subprocess.run([sys.executable, "-m", "infra.cli", "api-token", "issue", "--department", DEPARTMENT,
                             "--scope", "write"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if issued.returncode != 0:
        raise SystemExit(f"bench.submit: no token: {issued.stderr.strip()}")
    return issued.stdout.split()[-1]


class Client:
    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, body: str) -> tuple[int, dict]:
        self.connection.request("POST", "/v1/events", body=body.encode("utf-8"), headers=self.headers)
        response = self.connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.connection.request("GET", "/readyz")
                response = self.connection.getresponse()
                response.read()
                if response.status == 200:
                    return
            except (OSError, http.client.HTTPException):
                self.connection.close()
            time.sleep(0.2)  # polling the service's readiness, not standing in for a result
        raise SystemExit("bench.submit: the service did not become ready")


def accepted(answer: dict) -> int:
    return sum(1 for r in answer.get("results", [answer]) if r.get("status") == "accepted")


def one_a_request(client: Client, signed: list[str], rate: float) -> dict:
    latencies, ok, start = [], 0, time.perf_counter()
    for i, line in enumerate(signed):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # pacing the offered load, not waiting for a result
        sent = time.perf_counter()
        status, answer = client.post(line)
        latencies.append(time.perf_counter() - sent)
        ok += status == 200 and accepted(answer)
    return {"requests": len(signed), "rate": rate, "accepted": ok,
            "latency_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
            "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


def batches(client: Client, signed: list[str], size: int) -> dict:
    ok, start = 0, time.perf_counter()
    for i in range(0, len(signed), size):
        status, answer = client.post("[" + ",".join(signed[i:i + size]) + "]")
        ok += accepted(answer) if status in (200, 202) else 0
    elapsed = time.perf_counter() - start
    return {"lines": len(signed), "batch": size, "accepted": ok, "seconds": round(elapsed, 2),
            "lines_per_s": round(len(signed) / elapsed)}


def peer(kafka: dict[str, str], topics: Topics, signed: list[str], size: int) -> dict:
    """The same batches through the Submitter the API calls, in this process: no HTTP."""
    submitter, ok, start = Submitter(kafka, topics), 0, time.perf_counter()
    try:
        for i in range(0, len(signed), size):
            ok += sum(1 for r in submitter.submit(signed[i:i + size], 30.0, keys=Keystore())
                      if r["status"] == "accepted")
    finally:
        submitter.close()
    elapsed = time.perf_counter() - start
    return {"lines": len(signed), "batch": size, "accepted": ok, "seconds": round(elapsed, 2),
            "lines_per_s": round(len(signed) / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    from tests.conftest import free_port
    home = Path(tempfile.mkdtemp(prefix="govshare-bench-"))
    url = fresh_database(args.database, home, "govshare.db")
    single = lines(args.requests)
    batched = lines(args.batches * args.batch_size, args.batch_size)
    for_peer = lines(args.batches * args.batch_size, args.batch_size)
    port = free_port()
    broker = EmbeddedBroker.start()
    prefix = f"sub{uuid.uuid4().hex[:6]}"
    extra = {"GOVSHARE_API_PORT": str(port), "GOVSHARE_API_RATE_PER_MINUTE": "100000000",
             "GOVSHARE_API_BATCH_MAX": str(max(1000, args.batch_size))}
    service = start_service(broker, url, home, prefix, extra=extra)
    try:
        env = {**os.environ, "GOVSHARE_HOME": str(home), "GOVSHARE_DATABASE_URL": url,
               "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": prefix, **extra}
        client = Client(port, token(env))
        client.ready()
        results = {"database": args.database, "load_before": os.getloadavg(),
                   "one_event_a_request": one_a_request(client, single, args.rate),
                   "batches": batches(client, batched, args.batch_size)}
        results["peer_submitter_batches"] = peer({"bootstrap.servers": broker.bootstrap}, Topics(prefix),
                                                 for_peer, args.batch_size)
    finally:
        service.terminate()
        service.wait(60)
        broker.stop()
    one, many, bare = results["one_event_a_request"], results["batches"], results["peer_submitter_batches"]
    print(f"\n{'POST /v1/events (' + args.database + ')':40} {'n':>7} {'accepted':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'lines/s':>8}")
    print(f"{f'one event a request at {args.rate:g}/s':40} {one['requests']:>7} {one['accepted']:>9} "
          f"{one['latency_p50_ms']:>8} {one['latency_p99_ms']:>8} {'':>8}")
    print(f"{f'batches of {args.batch_size}':40} {many['lines']:>7} {many['accepted']:>9} {'':>8} {'':>8} "
          f"{many['lines_per_s']:>8}")
    print(f"{'peer: the Submitter, no HTTP':40} {bare['lines']:>7} {bare['accepted']:>9} {'':>8} {'':>8} "
          f"{bare['lines_per_s']:>8}")
    save(f"submit-{args.database}", results)


if __name__ == "__main__":
    main()
