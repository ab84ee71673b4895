"""New information systems catalog their data before their project is approved (#25 item 7;
GD-2018 Art. 11: 政务部门新建业务系统，要同步规划编制有关政务数据资源目录，作为项目立项审批条件;
Ningbo Art. 9: 由区大数据主管机构出具审核意见；审核意见作为审批立项…的依据; Art. 11). On the
in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from projections import queries
from tests.builders import event, new_id, registered

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
SYSTEM = "社会保险待遇资格认证系统"
AUTHORITY = dict(department="gd-authority", role="DATA_AUTHORITY")


def submitted(project: str, entries: list[str], system: str = SYSTEM, **actor) -> dict:
    return event("SystemProjectSubmitted", project, 1, {"system": system, "description": "待遇资格远程认证",
                                                        "entries": entries}, **(actor or {}))


def reviewed(project: str, approved: bool, opinion: str = "数据已编目，同意立项", **actor) -> dict:
    return event("SystemProjectReviewed", project, 2, {"approved": approved, "opinion": opinion},
                 **(actor or AUTHORITY))


def test_a_project_is_approved_only_with_its_systems_data_catalogued(harness):
    # Given the social insurance department's entry cataloguing the new system's data, and one
    # of another system's
    entry, other_system, theirs = new_id(), new_id(), new_id()
    harness.given(registered(entry, information_system=SYSTEM), registered(other_system),
                  registered(theirs, department="gd-psb", information_system=SYSTEM), at=MON)
    # When it submits projects naming no entry, another system's entry, another department's,
    # and its own
    none, wrong_system, not_its_own, good = harness.when(
        submitted(new_id("prj"), []), submitted(new_id("prj"), [other_system]),
        submitted(new_id("prj"), [theirs]), submitted(new_id("prj"), [entry]), at=MON)
    # Then only the last stands, the others refused under GD-2018 Art. 11
    assert good["status"] == "accepted"
    for refused in (none, wrong_system, not_its_own):
        assert (refused["rule"], refused["article"]) == (
            "system-data-not-catalogued",
            "GD-2018 Art. 11 (政务部门新建业务系统，要同步规划编制有关政务数据资源目录，作为项目立项审批条件)")
    assert "catalogues the data of 广东省社会保险信息系统" in wrong_system["error"]


def test_the_authority_reviews_once_and_cannot_approve_once_the_data_left_the_catalog(harness):
    entry, kept = new_id(), new_id()
    harness.given(registered(entry, information_system=SYSTEM), registered(kept, information_system=SYSTEM), at=MON)
    dropped, approved_one = new_id("prj"), new_id("prj")
    harness.given(submitted(dropped, [entry]), submitted(approved_one, [kept]), at=MON)
    # Given the entry of the first project taken down before the review
    harness.given(event("EntryTakenDown", entry, 2, {"reason": "系统方案调整"}), at=MON)
    too_late, other_authority, no_opinion, ok = harness.when(
        reviewed(dropped, True), reviewed(approved_one, True, department="hb-authority", role="DATA_AUTHORITY",
                                          policy="hebei-2023"),
        reviewed(approved_one, True, opinion=" "), reviewed(approved_one, True), at=MON)
    assert too_late["rule"] == "system-data-not-catalogued"
    assert other_authority["rule"] == "authority-of-the-entry"
    assert no_opinion["rule"] == "project-details-required"
    assert ok["status"] == "accepted"
    [again] = harness.when(reviewed(approved_one, False) | {"sequence": 3}, at=MON)
    assert again["rule"] == "project-already-reviewed"
    # and the refusal of the first still stands as a review
    harness.given(reviewed(dropped, False, opinion="数据目录已下架，不予立项"), at=MON)
    rows = {r["project_id"]: r for r in queries.project_list(harness.project())}
    assert (rows[approved_one]["status"], rows[dropped]["status"]) == ("approved", "refused")
    listed = json.loads(harness.cli("query", "projects", "--status", "approved", "--json").stdout)
    assert [r["project_id"] for r in listed] == [approved_one]
