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


def _clocked(broker, database_url, tmp_path, start: str):
    """A clock file at `start` and the environment of a service that ticks by it."""
    clock = tmp_path / "clock"
    clock.write_text(start)
    return clock, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_DATABASE_URL": database_url,
                   "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}", "GOVSHARE_CLOCK": f"file:{clock}",
                   "GOVSHARE_TICK_SECONDS": "0.2"}


def test_overdue_obligations_escalate_and_show_in_the_supervision_views(broker, database_url, tmp_path):
    clock, env = _clocked(broker, database_url, tmp_path, "2026-09-25T10:00:00+08:00")
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


def test_misuse_through_the_service_is_ordered_corrected_under_ningbo_and_no_auditor_records_use(
        broker, database_url, tmp_path):
    """GD-2008 Art. 40(3) as Ningbo supervises it (Art. 34); GD-2018 Art. 21: 谁使用谁负责, so
    only a using department's system records an access (rule actor-not-permitted)."""
    clock, env = _clocked(broker, database_url, tmp_path, "2026-11-02T10:00:00+08:00")
    service = start_service(tmp_path, env)
    try:
        from processors.grants import grant_id
        entry, req, acc = new_id(), new_id("req"), new_id("acc")
        nb = dict(policy="ningbo-haishu-2021")
        use = {"grant_id": grant_id(req), "entry_id": entry, "items": ["N.1"], "purpose": "营销", "recipient": "nb-market",
               "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}
        # The entry first: a request on another inbox could otherwise overtake it.
        results = submit_lines(lines(registered(entry, codes=["N.1"], department="nb-civil", **nb)),
                               service.kafka, service.topics, timeout=60)
        results += submit_lines(lines(
            event("RequestSubmitted", req, 1, {"entry_id": entry, "items": ["N.1"], "purpose": "审批",
                  "scenario": "一网通办", "business_process": "b", "method": "INTERFACE", "period_end": "2026-12-31"},
                  department="nb-market", role="USER", **nb),
            event("DataAccessed", acc, 1, use, department="nb-market", role="USER", **nb),
            event("DataAccessed", new_id("acc"), 1, use, department="nb-market", role="AUDITOR", **nb)),
            service.kafka, service.topics, timeout=60)
        assert [r["status"] for r in results] == ["accepted"] * 3 + ["rejected"], [r.get("error") for r in results]
        assert (results[3]["rule"], results[3]["article"]) == ("actor-not-permitted", "State Council 2016 Art. 5 (谁主管谁提供、谁提供谁负责)")
        engine = service.engine()
        [scheduled] = wait_for(lambda: queries.deadline_list(engine, party="nb-market"), 30, "the usage deadline")
        assert scheduled["kind"] == "usage-correction" and scheduled["subject_id"] == acc
        due = scheduled["due_at"]
        clock.write_text((due if due.tzinfo else due.replace(tzinfo=timezone.utc)).isoformat())
        wait_for(lambda: [a for a in queries.supervision(engine, party="nb-market")
                          if a["action"] == "rectification-ordered"], 30, "the rectification order")
        [order] = [a for a in queries.supervision(engine, party="nb-market") if a["action"] == "rectification-ordered"]
        assert order["article"].startswith("Ningbo Art. 34")
    finally:
        service.stop()
