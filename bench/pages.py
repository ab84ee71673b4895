"""How long a supervisor waits for a page of a long list: `python -m bench.pages [--rows 10000]
[--databases sqlite,postgresql]`.

Builds `rows` catalog entries and as many share requests through the whole System on the
in-memory runner (every stage, every table as the service fills them), serves the projections
with `govshare run api`, and times over real HTTP each list's first, middle and last page of
50 rows (the dashboard's keyset pages, for a data authority and for an auditor) and the API's
page of the same view. The peer, in the same run, is the usual way to page: the same query with
LIMIT/OFFSET at the same depth. Target: every page under 300 ms.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from bench.common import fresh_database, percentile, save

ROOT = Path(__file__).resolve().parent.parent
LISTS = ("catalog", "requests", "grants", "deadlines")
PAGE = 50
REPEAT = 5


def build(url: str, home: Path, rows: int):
    """The world: `rows` entries by Guangdong's departments and one request for each, by the
    in-memory runner, in batches of 500 lines."""
    import tests.conftest  # noqa: F401  (department keys for every department)
    from tests.builders import LAW, event, lines, new_id, registered
    from tests.harness import Harness
    harness = Harness(url, home, at=datetime(2026, 11, 2, 2, tzinfo=timezone.utc))
    providers = ("gd-hrss", "gd-amr", "gd-health")
    started = time.monotonic()
    for start in range(0, rows, 500):
        count = min(500, rows - start)
        entries = [new_id("gd-entry") for _ in range(count)]
        # Every other entry conditional: its request is reviewed, with a legal limit running.
        conditional = dict(share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批")
        harness.sim.submit(lines(*(registered(e, codes=[f"C.{start + i}"], department=providers[i % 3],
                                              title=f"广东省数据资源{start + i}", **(conditional if i % 2 else {}))
                                   for i, e in enumerate(entries))))
        harness.sim.submit(lines(*(event("RequestSubmitted", new_id("gd-req"), 1, {
            "entry_id": e, "items": [f"C.{start + i}"], "purpose": "审批", "scenario": "一网通办",
            "business_process": "b", "method": "INTERFACE", "period_end": "2027-12-31"}, department="gd-psb",
            role="USER") for i, e in enumerate(entries))))
    return harness, time.monotonic() - started


def serve(harness, home: Path) -> tuple[subprocess.Popen, str, dict[str, str]]:
    from tests.conftest import free_port
    env = {**harness.env, "GOVSHARE_API_PORT": str(free_port()), "GOVSHARE_LOG_LEVEL": "warning",
           "GOVSHARE_API_RATE_PER_MINUTE": "100000000"}  # one token paging as fast as it can
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", "api"], env=env, cwd=ROOT,
                               stdout=open(home / "api.log", "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['GOVSHARE_API_PORT']}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.2)  # a server starting: nothing else to wait on in a benchmark
    tokens = {}
    for who, department, scope in (("authority", "gd-authority", "read"), ("auditor", "gd-security", "audit")):
        done = subprocess.run([sys.executable, "-m", "infra.cli", "api-token", "issue", "--department", department,
                               "--scope", scope], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        tokens[who] = done.stdout.strip()
    return process, url, tokens


def timed(url: str, token: str, *, cookie: bool) -> float:
    request = urllib.request.Request(url)
    request.add_header("Cookie" if cookie else "Authorization",
                       f"govshare_dashboard={token}" if cookie else f"Bearer {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
        assert answer.status == 200, url
    return (time.perf_counter() - started) * 1000


def cursors(base: str, token: str, view: str) -> list[str | None]:
    """The cursors of the first, the middle and the last page of a view (walked through the API
    at 1000 rows a page, outside the clock)."""
    found, cursor = [None], None
    while True:
        request = urllib.request.Request(f"{base}/v1/{view}?limit=1000" + (f"&cursor={cursor}" if cursor else ""))
        request.add_header("Authorization", f"Bearer {token}")
        page = json.loads(urllib.request.urlopen(request, timeout=60).read())
        if not page["next_cursor"]:
            break
        cursor = page["next_cursor"]
        found.append(cursor)
    return [found[0], found[len(found) // 2], found[-1]]


def measure(base: str, tokens: dict[str, str], engine) -> dict:
    from sqlalchemy import select, text

    from projections import queries
    results = {}
    for view in LISTS:
        marks = cursors(base, tokens["auditor"], view)
        for who, token in tokens.items():
            for where, cursor in zip(("first", "middle", "last"), marks):
                suffix = f"?after={cursor}" if cursor else ""
                dashboard = [timed(f"{base}/dashboard/{view}{suffix}", token, cookie=True) for _ in range(REPEAT)]
                api = [timed(f"{base}/v1/{view}?limit={PAGE}" + (f"&cursor={cursor}" if cursor else ""), token,
                             cookie=False) for _ in range(REPEAT)]
                results[f"{view}/{who}/{where}"] = {"dashboard_ms": round(percentile(dashboard, 0.5), 1),
                                                    "dashboard_max_ms": round(max(dashboard), 1),
                                                    "api_ms": round(percentile(api, 0.5), 1)}
        # The peer: the same order, LIMIT/OFFSET at the depth of the last page.
        order = queries.ORDER[view]
        table = order[0].table
        with engine.connect() as conn:
            total = conn.scalar(select(text("count(*)")).select_from(table))
            runs = []
            for _ in range(REPEAT):
                started = time.perf_counter()
                conn.execute(select(table).order_by(*order).offset(max(0, total - PAGE)).limit(PAGE)).all()
                runs.append((time.perf_counter() - started) * 1000)
        results[f"{view}/peer-offset/last"] = {"query_ms": round(percentile(runs, 0.5), 1), "rows": total}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    os.environ.setdefault("GOVSHARE_LOG_LEVEL", "warning")
    out = {"rows": args.rows, "page": PAGE, "target_ms": 300, "load_before": os.getloadavg()[0], "runs": {}}
    for kind in args.databases.split(","):
        home = Path(tempfile.mkdtemp(prefix=f"govshare-pages-{kind}-"))
        harness, took = build(fresh_database(kind, home, "govshare.db"), home, args.rows)
        process, base, tokens = serve(harness, home)
        try:
            found = measure(base, tokens, harness.engine)
        finally:
            process.terminate()
            process.wait(20)
        out["runs"][kind] = {"build_s": round(took, 1), "pages": found}
        print(f"\n{kind}: {args.rows} entries and requests built in {took:.0f} s")
        print(f"{'page':34} {'dashboard p50':>14} {'max':>8} {'API p50':>9}")
        for name, r in found.items():
            if "query_ms" in r:
                print(f"{name:34} {'':>14} {'':>8} {r['query_ms']:>8.1f}  (OFFSET query alone, {r['rows']} rows)")
            else:
                print(f"{name:34} {r['dashboard_ms']:>14.1f} {r['dashboard_max_ms']:>8.1f} {r['api_ms']:>9.1f}")
        worst = max(r.get("dashboard_max_ms", 0) for r in found.values())
        out["runs"][kind]["worst_dashboard_ms"] = worst
        print(f"worst dashboard page: {worst:.0f} ms (target {out['target_ms']} ms)")
    save("pages", out)


if __name__ == "__main__":
    main()
