"""The deadline engine schedules, warns, breaches and escalates as the clock moves, and the
supervision views and `govshare query deadlines` show it: every stage on the in-memory runner
(tests/harness.py) over SQLite and PostgreSQL, the clock the test's.

One test starts the real service, because it is about a kill:
test_a_killed_service_breaches_each_deadline_once_and_escalates_after_its_restart SIGKILLs
`govshare up` (the deadline engine's process among the rest) after a breach, starts it again
over the same database and broker, and moves the clock file past the rectification order's
limit: the criticism follows and the first breach does not fire again. No other test kills the
deadline engine (tests/test_runtime.py kills the validator and the projector). Everything else
runs on the harness; a restart there is `harness.restart(stage)` for every stage.
"""
from __future__ import annotations

import json
import signal
import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import func, select

from infra.submit import submit_lines
from infra.system import SYSTEM
from processors.grant_keeper import grant_id
from processors.rules.working_days import end_of_day
from projections import queries, tables
from tests.builders import event, lines, new_id, registered
from tests.conftest import start_service, wait_for

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
NB = dict(policy="ningbo-haishu-2021")
# Friday 25 Sep 2026, 10:00 in Hebei: 10 working days later, the National Day holiday between, is 15 Oct.
RECEIVED = datetime(2026, 9, 25, 2, 0, tzinfo=timezone.utc)
DUE = end_of_day(date(2026, 10, 15), "Asia/Shanghai")
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # Monday 2 Nov 2026, 10:00 in Ningbo


def _breaches(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tables.event_log).where(
            tables.event_log.c.event_type == "DeadlineBreached")).scalar_one()


def _obligation_raised(system) -> str:
    entry = new_id()
    system.given(registered(entry, **HB), event(
        "ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
                                            "reference": "条例修订", "received_on": "2026-09-25"}, **AUTH),
        at=RECEIVED)
    return entry


def test_an_obligation_is_scheduled_and_warned_of_before_it_is_overdue(system):
    entry = _obligation_raised(system)
    [scheduled] = queries.deadline_list(system.engine, party="hb-civil")
    assert (scheduled["status"], scheduled["subject_id"]) == ("open", entry)
    assert queries.utc(scheduled["due_at"]) == DUE
    assert scheduled["warned_at"] is None

    system.advance(DUE - timedelta(hours=30))
    [warned] = queries.deadline_list(system.engine)
    assert warned["warned_at"] is not None and warned["status"] == "open"
    assert queries.deadline_list(system.engine, overdue=True) == []
    assert queries.supervision(system.engine) == []


def test_an_overdue_obligation_is_ordered_rectified_and_listed_as_overdue(system):
    _obligation_raised(system)
    system.advance(DUE - timedelta(seconds=1))
    assert queries.deadline_list(system.engine, overdue=True) == []

    system.advance(DUE)
    [overdue] = queries.deadline_list(system.engine, overdue=True)
    assert overdue["kind"] == "catalog-update" and overdue["party"] == "hb-civil"
    [order] = queries.supervision(system.engine)
    assert order["action"] == "rectification-ordered" and order["article"].startswith("Hebei Measures")
    listed = system.cli("query", "deadlines", "--overdue", "--json")
    assert [d["kind"] for d in json.loads(listed.stdout)] == ["catalog-update"]


def test_a_restarted_deadline_worker_escalates_once_more_and_breaches_nothing_again(system):
    _obligation_raised(system)
    system.advance(DUE)
    for stage in SYSTEM.names:  # every worker anew over the same database, as after a restart
        system.restart(stage)
    system.advance(DUE + timedelta(hours=1))
    assert _breaches(system.engine) == 1, "the first breach does not fire again after the restart"
    [order] = queries.supervision(system.engine)

    # Past the rectification order's own limit, the restarted worker escalates once more.
    system.advance(queries.utc(order["due_at"]))
    actions = queries.supervision(system.engine)
    assert [a["action"] for a in actions] == ["rectification-ordered", "criticism-circulated"]
    assert _breaches(system.engine) == 2, "each deadline breached exactly once across the restart"
    system.advance(queries.utc(order["due_at"]) + timedelta(days=30))
    assert len(queries.supervision(system.engine)) == 2 and _breaches(system.engine) == 2


def test_a_killed_service_breaches_each_deadline_once_and_escalates_after_its_restart(
        broker, database_url, tmp_path):
    clock = tmp_path / "clock"
    clock.write_text(RECEIVED.isoformat())
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
        assert [r["status"] for r in results] == ["accepted", "accepted"], [r.get("error") for r in results]
        engine = service.engine()
        wait_for(lambda: queries.deadline_list(engine, party="hb-civil"), 30, "the deadline")
        clock.write_text(DUE.isoformat())
        [order] = wait_for(lambda: queries.supervision(engine), 30, "the rectification order")
        assert _breaches(engine) == 1

        service.process.send_signal(signal.SIGKILL)
        service.process.wait(10)
        service = start_service(tmp_path, env)
        clock.write_text(queries.utc(order["due_at"]).isoformat())
        wait_for(lambda: len(queries.supervision(engine)) == 2, 30, "the circulated criticism")
        assert [a["action"] for a in queries.supervision(engine)] == ["rectification-ordered", "criticism-circulated"]
        assert _breaches(engine) == 2, "each deadline breached exactly once across the kill"
    finally:
        service.stop()


def _use(request_id: str, entry: str) -> dict:
    return {"grant_id": grant_id(request_id), "entry_id": entry, "items": ["N.1"], "purpose": "营销",
            "recipient": "nb-market", "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}


def _requested(system) -> tuple[str, str]:
    entry, req = new_id(), new_id("req")
    system.given(registered(entry, codes=["N.1"], department="nb-civil", **NB), event(
        "RequestSubmitted", req, 1, {"entry_id": entry, "items": ["N.1"], "purpose": "审批", "scenario": "一网通办",
                                     "business_process": "b", "method": "INTERFACE", "period_end": "2026-12-31"},
        department="nb-market", role="USER", **NB), at=MON)
    return entry, req


def test_no_auditor_records_a_use_only_the_using_department_does(system):
    """GD-2018 Art. 21: 谁使用谁负责, so only a using department's system records an access."""
    entry, req = _requested(system)
    [refused] = system.when(event("DataAccessed", new_id("acc"), 1, _use(req, entry), department="nb-market",
                                  role="AUDITOR", **NB), at=MON)
    assert refused["status"] == "rejected"
    assert (refused["rule"], refused["article"]) == (
        "actor-not-permitted", "State Council 2016 Art. 5 (谁主管谁提供、谁提供谁负责)")
    assert queries.access_list(system.engine) == []


def test_misuse_is_ordered_corrected_at_once_and_criticised_under_ningbo_when_the_order_lapses(system):
    """GD-2008 Art. 40 as Ningbo supervises it (Art. 20, 34): the flagged use is the order to
    correct within the limit; the supervision list shows it with its limit, then the criticism."""
    entry, req = _requested(system)
    acc = new_id("acc")
    system.given(event("DataAccessed", acc, 1, _use(req, entry), department="nb-market", role="USER", **NB), at=MON)
    [scheduled] = queries.deadline_list(system.engine, party="nb-market")
    assert scheduled["kind"] == "rectification" and scheduled["subject_id"] == acc
    due = queries.utc(scheduled["due_at"])
    shown = {a["action"]: a for a in queries.supervision(system.engine, party="nb-market")}
    assert shown.keys() == {"usage-violation", "rectification-ordered"}
    order = shown["rectification-ordered"]
    assert queries.utc(order["due_at"]) == due
    assert order["article"].startswith("Ningbo Art. 20, 34")

    system.advance(due - timedelta(seconds=1))
    assert {a["action"] for a in queries.supervision(system.engine, party="nb-market")} == shown.keys()
    system.advance(due)
    actions = {a["action"]: a for a in queries.supervision(system.engine, party="nb-market")}
    assert actions.keys() == {"usage-violation", "rectification-ordered", "criticism-circulated"}
    assert actions["criticism-circulated"]["article"].startswith("Ningbo Art. 34")
