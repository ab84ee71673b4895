"""Security incidents (#25 item 8; Ningbo Art. 31, GD-2018 Art. 27): a department reports its
own incident at once, with the remedies it took, whether it told the users who may be affected,
and to which security authority it reported. A report is refused only for what it leaves out;
what it admits (users not told) is recorded, shown to supervision and scored. On the in-memory runner
over SQLite and PostgreSQL, and `govshare query incidents` over what it projected."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from policies.scorecard import formula
from projections import queries
from projections.scorecards import scorecards
from tests.builders import event, new_id

NB = "ningbo-haishu-2021"
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)


def incident(incident_id: str, *, department: str = "nb-market", role: str = "PROVIDER", policy: str = NB,
             **payload) -> dict:
    return event("SecurityIncidentReported", incident_id, 1, {
        "description": "接口账号被盗用，部分企业登记数据被批量导出", "entries": ["nb-market-enterprises"],
        "remedies": "已停用该账号、更换密钥并封禁来源地址", "users_informed": True,
        "reported_to": "海曙区委网信办", **payload}, department=department, role=role, policy=policy)


def test_a_department_reports_its_incident_and_supervision_sees_what_it_admitted(harness):
    # Given Ningbo's market regulator, whose users were not told yet, and Guangdong's health
    # department, which told them
    leaked, told = new_id("inc"), new_id("inc")
    # When each reports its incident
    harness.given(incident(leaked, users_informed=False),
                  incident(told, department="gd-health", role="USER", policy="guangdong-2018"), at=MON)
    # Then both are recorded as said, the one whose users were not told shown as such
    engine = harness.project()
    rows = {r["incident_id"]: r for r in queries.incident_list(engine)}
    assert (rows[leaked]["department"], rows[leaked]["users_informed"]) == ("nb-market", False)
    assert rows[told]["users_informed"] is True and rows[told]["reported_to"] == "海曙区委网信办"
    assert [r["incident_id"] for r in queries.incident_list(engine, uninformed=True)] == [leaked]
    # and each jurisdiction's supervisors see their own departments' incidents only
    assert [r["incident_id"] for r in queries.incident_list(engine, parties={"nb-market", "nb-civil"})] == [leaked]
    # and the command line lists them, a filter narrowing them to the department
    listed = json.loads(harness.cli("query", "incidents", "--department", "gd-health", "--json").stdout)
    assert [r["incident_id"] for r in listed] == [told]


def test_a_report_says_what_happened_what_was_done_and_to_whom_it_was_reported(harness):
    first = new_id("inc")
    harness.given(incident(first), at=MON)
    no_remedies, not_reported, in_guangdong, again, by_authority = harness.when(
        incident(new_id("inc"), remedies=" "),
        incident(new_id("inc"), reported_to=""),
        incident(new_id("inc"), department="gd-health", role="USER", policy="guangdong-2018", description=""),
        incident(first),
        incident(new_id("inc"), department="nb-authority", role="DATA_AUTHORITY"), at=MON)
    # Ningbo's text says it (Art. 31); Guangdong's is silent, so a platform rule after it
    assert (no_remedies["rule"], no_remedies["article"]) == ("incident-remedies-required",
                                                             "Ningbo Art. 31 (及时采取补救措施)")
    assert not_reported["rule"] == "incident-report-required" and "Ningbo Art. 31" in not_reported["article"]
    assert (in_guangdong["rule"], in_guangdong["article"]) == ("incident-description-required",
                                                               "govshare platform rule")
    assert again["rule"] == "incident-already-reported"
    # a data authority reports no incident in that role (the departments whose data it is do)
    assert by_authority["rule"] == "actor-not-permitted"


def test_incidents_count_in_the_reporting_department_s_scorecard(harness):
    # Given Ningbo's market regulator's two incidents, one whose users were not told
    harness.given(incident(new_id("inc")), incident(new_id("inc"), users_informed=False), at=MON)
    # Then its scorecard counts both, the uninformed one again, and takes their points
    [card] = scorecards(harness.project(), period="year", department="nb-market")
    assert (card["incidents"], card["incidents_uninformed"]) == (2, 1)
    points = {p.name: p.points for p in formula(NB).penalties}
    assert card["score"] == max(0.0, 100 - 2 * points["incidents"] - points["incidents_uninformed"])
