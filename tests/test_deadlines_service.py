"""The running service schedules, warns, breaches and escalates as an injected clock moves."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from datetime import date, timedelta, timezone

from sqlalchemy import func, select

from infra.submit import submit_lines
from processors.working_days import end_of_day
from projections import queries, tables
from tests.builders import event, lines, new_id, registered
from tests.conftest import start_service, wait_for

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")


def _breaches(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tables.event_log).where(
            tables.event_log.c.event_type == "DeadlineBreached")).scalar_one()


def test_overdue_obligations_escalate_and_show_in_the_supervision_views(broker, database_url, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text("2026-09-25T10:00:00+08:00")
    env = {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_DATABASE_URL": database_url,
           "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}", "GOVSHARE_CLOCK": f"file:{clock}",
           "GOVSHARE_TICK_SECONDS": "0.2"}
    service = start_service(tmp_path, env)
    try:
        entry = new_id()
        results = submit_lines(lines(registered(entry, **HB), event(
            "ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
                                                "reference": "条例修订", "received_on": "2026-09-25"}, **AUTH)),
            service.kafka, service.topics, timeout=60)
        assert [r["status"] for r in results] == ["accepted", "accepted"]
        engine = service.engine()
        [scheduled] = wait_for(lambda: queries.deadline_list(engine, party="hb-civil"), 30, "the deadline")
        due = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
        assert scheduled["status"] == "open"

        clock.write_text((due - timedelta(hours=30)).isoformat())
        wait_for(lambda: queries.deadline_list(engine)[0]["warned_at"], 30, "the warning")
        assert queries.deadline_list(engine, overdue=True) == []

        clock.write_text(due.isoformat())
        wait_for(lambda: queries.supervision(engine), 30, "the rectification order")
        [overdue] = queries.deadline_list(engine, overdue=True)
        assert overdue["kind"] == "catalog-update" and overdue["party"] == "hb-civil"

        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)
        service = start_service(tmp_path, env)
        clock.write_text((due + timedelta(hours=1)).isoformat())
        done = subprocess.run([sys.executable, "-m", "infra.cli", "query", "deadlines", "--overdue", "--json"],
                              env=service.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert [d["kind"] for d in json.loads(done.stdout)] == ["catalog-update"]
        [order] = queries.supervision(engine)
        assert order["action"] == "rectification-ordered" and order["article"].startswith("Hebei Measures")

        # Past the rectification order's own limit, the restarted worker escalates once more;
        # the first breach does not fire again.
        order_due = order["due_at"]  # SQLite gives naive UTC back, PostgreSQL aware
        clock.write_text((order_due if order_due.tzinfo else order_due.replace(tzinfo=timezone.utc)).isoformat())
        wait_for(lambda: len(queries.supervision(engine)) == 2, 30, "the circulated criticism")
        assert queries.supervision(engine)[1]["action"] == "criticism-circulated"
        assert _breaches(engine) == 2, "each deadline breached exactly once across the restart"
    finally:
        service.stop()
