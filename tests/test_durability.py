"""Accepted events survive a killed service, and the projections can be rebuilt from the log."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import datetime, timezone

from sqlalchemy import func, select

from infra.submit import submit_lines
from processors.profiles import load_all
from projections import queries, tables
from tests.builders import attributes, event, lines, new_id, registered
from tests.conftest import start_service, wait_for


def _alive(pid: int) -> bool:
    try:
        return b"tansu" in open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return False


def test_killing_and_restarting_the_embedded_service_loses_no_accepted_event(tmp_path):
    first = start_service(tmp_path, {})
    broker_pid = json.loads((tmp_path / "home" / "broker.json").read_text())["broker_pid"]
    entry, rejected = new_id(), new_id()
    results = submit_lines(lines(registered(entry), registered(rejected, share_type="CONDITIONAL")),
                           first.kafka, first.topics, timeout=60)
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    engine = first.engine()
    wait_for(lambda: queries.counts(engine) == {"accepted": 1, "rejected": 1, "dead_lettered": 0},
             30, "both outcomes in the projections")
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    wait_for(lambda: not _alive(broker_pid), 10, "the embedded broker to die with its parent")

    second = start_service(tmp_path, {})
    try:
        revised = event("EntryRevised", entry, 2, {"attributes": attributes(title="v2"), "reason": "r"})
        [result] = submit_lines(lines(revised), second.kafka, second.topics, timeout=60)
        assert result["status"] == "accepted", result  # the validator remembers sequence 1
        found = wait_for(lambda: (e := queries.entry(engine, entry)) and e["version"] == 2 and e,
                         30, "version 2 after the restart")
        assert [v["version"] for v in found["versions"]] == [1, 2]
        assert queries.counts(engine) == {"accepted": 2, "rejected": 1, "dead_lettered": 0}
    finally:
        second.stop()


def _utc(value):
    # SQLite hands back naive UTC datetimes, PostgreSQL aware ones: compare them as instants.
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value


def _table(url: str, table) -> list[tuple]:
    from infra.database import make_engine
    key = [c for c in table.primary_key.columns]
    with make_engine(url).connect() as conn:
        return [tuple(_utc(v) for v in r) for r in conn.execute(select(table).order_by(*key))]


def test_a_rebuild_from_the_start_of_the_log_equals_the_live_projections(service, tmp_path):
    entry, other = new_id(), new_id()
    submit_lines(lines(
        registered(entry, codes=["R.1"]),
        event("RevisionSubmitted", entry, 2, {"revision_id": "r1", "attributes": attributes(codes=["R.1", "R.2"])}),
        event("RevisionApproved", entry, 3, {"revision_id": "r1"}, department="gd-authority", role="DATA_AUTHORITY"),
        registered(other, share_type="NON_SHAREABLE"),
    ), service.kafka, service.topics, timeout=60)
    engine = service.engine()
    wait_for(lambda: queries.counts(engine) == {"accepted": 3, "rejected": 1, "dead_lettered": 0},
             30, "the live projections")
    # The four, and the first directory govshare registered itself on its first start: each
    # department and the test key it was given (tests/conftest.py).
    recorded = 4 + 2 * len(load_all().departments)
    wait_for(lambda: _count(engine, tables.trail_entries) == _count(engine, tables.event_log) == recorded, 30,
             "the trail to cover every recorded event")
    rebuilt = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    done = subprocess.run([sys.executable, "-m", "infra.cli", "rebuild", "--into", rebuilt],
                          env=service.env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"applied {recorded + _count(engine, tables.trail_checkpoints)} records" in done.stdout
    compared = tables.metadata.sorted_tables  # the runtime's own tables are another metadata
    for table in compared:
        live, again = _table(service.database_url, table), _table(rebuilt, table)
        assert live == again, f"{table.name} differs after a rebuild"
        assert table.name not in ("event_log", "catalog_entries", "trail_entries") or live, table.name


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))
