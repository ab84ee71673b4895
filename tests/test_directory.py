"""One directory (issue #26): the department directory changes only by the platform
administrator's events, and every component reads it from them: the deadline engine (whose
limit a decision is, under which jurisdiction a breach is ordered), the scorecards (the
jurisdiction a department is weighed under), the read model the API's scoping and the
dashboard read. policies/departments.toml only seeds the first directory. On the in-memory
runner over SQLite and PostgreSQL; the API and the dashboard over HTTP are in
tests/test_api.py and tests/test_dashboard_scoping.py.
"""
from __future__ import annotations

from datetime import datetime, timezone

from projections import directory, scorecards
from tests.builders import AUTH, LAW, event, new_id, registered, request

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
ADMIN = dict(department="platform-admin", role="PLATFORM_ADMIN", policy="common")


def _next_sequence(harness, department: str) -> int:
    return 1 + max((e.envelope.sequence for e in harness.emitted("department")
                    if e.envelope.aggregate_id == department), default=0)


def changed(harness, department: str, **payload) -> dict:
    return event("DepartmentChanged", department, _next_sequence(harness, department),
                 {"reason": "机构改革", **payload}, **ADMIN)


def test_a_new_data_authority_decides_the_requests_reviewed_after_the_change(harness):
    entry, before, after = new_id(), new_id("req"), new_id("req")
    harness.given(registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"), request(before, entry), at=MON)
    harness.given(event("DepartmentRegistered", "gd-bigdata", 1, {
        "name": "广东省政务服务数据管理局", "policy_id": "guangdong-2018", "roles": ["DATA_AUTHORITY"]}, **ADMIN),
        changed(harness, "gd-authority", name="广东省原数据主管部门", policy_id="guangdong-2018",
                roles=["PROVIDER", "USER"]), at=MON)
    harness.given(request(after, entry), at=MON)
    parties = {e.payload.subject_id: e.payload.party for e in harness.deadline_events()
               if e.envelope.event_type == "DeadlineScheduled" and e.payload.kind == "request-decision"}
    assert parties == {before: "gd-authority", after: "gd-bigdata"}
    # The new authority is listed, and may act as one; the old one no longer may.
    with harness.project().connect() as conn:
        listed = directory.listed(conn)
    assert listed["gd-bigdata"].authority and not listed["gd-authority"].authority
    [refused] = harness.when(event("RequestApproved", after, 2, {"comment": "同意"}, **AUTH), at=MON)
    assert refused["rule"] == "role-not-held"


def test_a_department_moved_to_another_jurisdiction_is_ordered_and_scored_under_it(harness):
    """nb-market answers a consultation late: under Ningbo it is ordered to rectify under Ningbo's
    article and scored by Ningbo's formula; moved to Guangdong 2008 before its breach, under
    Guangdong's."""
    harness.given(changed(harness, "nb-market", name="宁波市市场监督管理局", policy_id="guangdong-2008",
                          roles=["PROVIDER", "USER"]), at=MON)
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, department="nb-market", policy="guangdong-2008", codes=["I.1"],
                             share_type="CONDITIONAL", legal_basis=LAW, share_conditions="c"), at=MON)
    harness.given(request(req, entry), at=MON)
    answer = [e.payload for e in harness.deadline_events() if e.envelope.event_type == "DeadlineScheduled"]
    [due] = [d for d in answer if d.party == "nb-market"]
    harness.advance(due.due_at)
    [order] = [e.payload for e in harness.deadline_events() if e.envelope.event_type == "RectificationOrdered"]
    assert order.article.startswith("GD-2008"), order.article
    engine = harness.project()
    [row] = [r for r in scorecards.scorecards(engine) if r["department"] == "nb-market"]
    assert row["policy_id"] == "guangdong-2008" and row["breaches"] >= 1


def test_the_read_model_starts_from_the_first_directory_and_follows_each_change(harness):
    engine = harness.project()
    with engine.connect() as conn:
        first = directory.listed(conn)
    assert first["nb-market"].policy_id == "ningbo-haishu-2021" and first["gd-authority"].authority
    harness.given(changed(harness, "gd-amr", name="广东省市场监督管理局（知识产权局）", policy_id="guangdong-2018",
                          roles=["PROVIDER", "USER"]), at=MON)
    with harness.project().connect() as conn:
        assert directory.lookup(conn, "gd-amr").name == "广东省市场监督管理局（知识产权局）"
    # A rebuild from the log arrives at the same directory.
    rebuilt = harness.rebuild(f"sqlite:///{harness.sim.settings.home / 'rebuilt.db'}")
    with rebuilt.connect() as conn, harness.engine.connect() as live:
        assert directory.listed(conn) == directory.listed(live)


def test_a_department_changed_twice_at_one_instant_stands_as_changed_last(harness):
    """A broker stamps milliseconds: two changes of one department may be received at one
    instant. Both are recorded, none is set aside, and the later is how the department stands."""
    first = changed(harness, "gd-psb", name="广东省公安厅（暂）", policy_id="guangdong-2018", roles=["PROVIDER"])
    second = {**changed(harness, "gd-psb", name="广东省公安厅", policy_id="guangdong-2018",
                        roles=["PROVIDER", "USER"]), "sequence": first["sequence"] + 1}
    harness.given(first, second, at=MON)
    assert harness.parked() == []
    entry = new_id()
    harness.given(registered(entry, codes=["I.1"]), at=MON)
    harness.given(request(new_id("req"), entry, user=dict(department="gd-psb", role="USER")), at=MON)
    with harness.project().connect() as conn:
        assert directory.listed(conn)["gd-psb"].name == "广东省公安厅"
