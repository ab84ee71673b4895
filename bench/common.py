"""What the benchmarks share: a fresh database of the asked kind, and percentiles."""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import structlog
from sqlalchemy import create_engine, text

# As the CLI does: the processors' per-event debug lines cost nothing unless asked for.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fresh_database(kind: str, home: Path, name: str) -> str:
    """A SQLite file under `home`, or a new schema in the local PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite:///{home / name}"
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with create_engine(PG, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f"create schema {schema}"))
    return f"{PG}?options=-csearch_path%3D{schema}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def save(name: str, results: dict) -> None:
    """Write <name>.json to bench/results/ (or to the directory BENCH_RESULTS names: the smoke
    test's, which keeps its tiny runs apart from real ones) and print the JSON after the table."""
    out = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).with_name("results"))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results))


def rss_mib(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def children(pid: int) -> list[int]:
    """The child processes of `pid` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def tree_rss_mib(pid: int) -> int:
    """Resident memory of a process and its children: `govshare up` and its stages."""
    return rss_mib(pid) + sum(rss_mib(c) for c in children(pid))


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(args: list[bytes], pid: int) -> str:
    """What a process under `govshare up` that runs no stage is: the module it runs (the HTTP
    API's `web.serve`) or its govshare command, else its pid."""
    words = [a.decode(errors="replace") for a in args if a]
    for marker in ("-m", "govshare"):
        found = [i for i, w in enumerate(words) if w.endswith(marker)]
        if found and found[0] + 1 < len(words):
            return words[found[0] + 1]
    return str(pid)


def stage_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds so far of the stage processes under `govshare up`, by process kind (the
    instances of one, `validator*2`, summed)."""
    out: dict[str, float] = {}
    for child in children(pid):
        args = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        name = args[args.index(b"run") + 1].decode() if b"run" in args else _command(args, child)
        out[name] = out.get(name, 0.0) + process_cpu_seconds(child)
    return out
