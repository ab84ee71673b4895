"""Requests for data outside the catalog (#25 item 12; GD-2008 Art. 21-22: 政务信息资源共享目录以外的
信息资源，由需求信息的行政机关向提供信息的行政机关提出申请…15个工作日内予以答复…不同意提供信息的，
应当书面说明理由). The department asked answers within its jurisdiction's limit; a refusal says
why; a late answer is a breach of the holder. On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from projections import queries
from tests.builders import event, new_id

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
USER = dict(department="gd-amr", role="USER")
HOLDER = dict(department="gd-hrss", role="PROVIDER")


def asked(request_id: str, holder: str = "gd-hrss", **payload) -> dict:
    return event("UncataloguedDataRequested", request_id, 1, {
        "holder": holder, "description": "企业职工社保缴费明细（目录未列）", "purpose": "企业开办核验",
        "business_process": "开办企业一件事", **payload}, **USER)


def answered(request_id: str, agrees: bool, reasons: str = "", **actor) -> dict:
    return event("UncataloguedRequestAnswered", request_id, 2, {"agrees": agrees, "reasons": reasons},
                 **(actor or HOLDER))


def test_the_holder_answers_within_the_limit_and_a_refusal_says_why(harness):
    # Given a request of the market regulator to the social insurance department for data no
    # entry lists
    provided, refused = new_id("unc"), new_id("unc")
    harness.given(asked(provided), asked(refused), at=MON)
    # Then the holder must answer within the limit (the platform rule after GD-2008 Art. 22)
    limits = {d["subject_id"]: d for d in queries.deadline_list(harness.project(), party="gd-hrss")}
    assert limits[provided]["kind"] == "uncatalogued-answer" and limits[provided]["status"] == "open"
    assert limits[provided]["article"] == "govshare platform rule"
    # When it refuses one without saying why, then a department that was not asked answers
    no_reason, not_asked = harness.when(answered(refused, False, " "),
                                        answered(provided, True, department="gd-psb", role="PROVIDER"),
                                        at=MON + timedelta(days=1))
    assert no_reason["rule"] == "uncatalogued-refusal-needs-reasons"
    assert not_asked["rule"] == "actor-not-permitted"
    # When it provides one and refuses the other in writing, then both limits are met
    harness.given(answered(provided, True, "按双方约定接口提供"), answered(refused, False, "涉及个人隐私，依法不予提供"),
                  at=MON + timedelta(days=2))
    rows = {r["request_id"]: r for r in queries.uncatalogued_list(harness.project())}
    assert (rows[provided]["status"], rows[refused]["status"]) == ("provided", "refused")
    assert rows[refused]["reasons"] == "涉及个人隐私，依法不予提供"
    assert {d["status"] for d in queries.deadline_list(harness.engine, party="gd-hrss")} == {"met"}
    # and each party reads its own requests; the command line lists them by holder
    assert queries.uncatalogued_list(harness.engine, parties={"nb-market"}) == []
    listed = json.loads(harness.cli("query", "uncatalogued", "--holder", "gd-hrss", "--json").stdout)
    assert {r["request_id"] for r in listed} == {provided, refused}


def test_an_unanswered_request_is_the_holders_breach(harness):
    request = new_id("unc")
    harness.given(asked(request), at=MON)
    [limit] = queries.deadline_list(harness.project(), subject=request)
    harness.advance(queries.utc(limit["due_at"]) + timedelta(seconds=1))
    kinds = {(d["kind"], d["status"]) for d in queries.deadline_list(harness.project(), subject=request)}
    assert kinds == {("uncatalogued-answer", "breached"), ("rectification", "open")}


def test_a_request_names_a_holder_other_than_itself_and_says_what_for(harness):
    unknown, itself, vague = harness.when(asked(new_id("unc"), holder="xx-nobody"),
                                          asked(new_id("unc"), holder="gd-amr"),
                                          asked(new_id("unc"), purpose=""), at=MON)
    assert unknown["rule"] == "holder-unknown"
    assert itself["rule"] == "requester-is-holder"
    assert vague["rule"] == "uncatalogued-details-required" and "purpose" in vague["error"]
