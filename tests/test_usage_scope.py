"""The catalog's usage scope and desensitization barred by law (#25 item 12). An entry's usage
scope (使用范围, Hebei) lists the departments it admits as requesters; a law may bar even
desensitized provision (Ningbo Art. 16-17: 法律、法规另有规定的除外). On the in-memory runner over
SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.builders import LAW, attributes, event, new_id, registered, request

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
NB = "ningbo-haishu-2021"
HB = "hebei-2023"


def test_only_a_department_the_usage_scope_admits_requests_the_data(harness):
    # Given a Hebei entry whose usage scope admits the civil affairs department only, and one
    # that admits any
    scoped, open_ = new_id(), new_id()
    harness.given(registered(scoped, department="hb-civil", policy=HB, codes=["H.1"], usage_departments=["hb-psb"]),
                  registered(open_, department="hb-civil", policy=HB, codes=["H.2"]), at=MON)
    # When the public security department and another department request each
    admitted, outside, anyone = harness.when(
        request(new_id("req"), scoped, ["H.1"], policy=HB, user=dict(department="hb-psb", role="USER")),
        request(new_id("req"), scoped, ["H.1"], policy="guangdong-2018"),
        request(new_id("req"), open_, ["H.2"], policy=HB, user=dict(department="hb-psb", role="USER")), at=MON)
    # Then only the admitted one's request stands, the other refused under Hebei's text
    assert [admitted["status"], anyone["status"]] == ["accepted", "accepted"]
    assert (outside["rule"], outside["article"]) == (
        "outside-usage-scope", "Hebei Measures (政务数据目录应当明确…使用范围; 不得扩大使用范围)")
    assert "admits hb-psb" in outside["error"]


def test_a_revision_approved_widens_the_scope(harness):
    entry = new_id()
    harness.given(registered(entry, codes=["W.1"], usage_departments=["gd-psb"]), at=MON)
    [before] = harness.when(request(new_id("req"), entry, ["W.1"]), at=MON)
    assert before["rule"] == "outside-usage-scope" and before["article"] == "govshare platform rule"
    widened = attributes(codes=["W.1"], usage_departments=["gd-psb", "gd-amr"])
    harness.given(event("RevisionSubmitted", entry, 2, {"revision_id": "rev-1", "attributes": widened}), at=MON)
    harness.given(event("RevisionApproved", entry, 3, {"revision_id": "rev-1"},
                        department="gd-authority", role="DATA_AUTHORITY"), at=MON)
    [after] = harness.when(request(new_id("req"), entry, ["W.1"]), at=MON)
    assert after["status"] == "accepted"


def test_data_a_law_keeps_even_desensitized_is_not_requested_desensitized(harness):
    # Given two non-shareable Ningbo entries, one of which a law bars even desensitized
    barred, allowed = new_id(), new_id()
    closed = dict(share_type="NON_SHAREABLE", legal_basis=LAW, restriction_reason="涉及个人隐私",
                  department="nb-market", policy=NB)
    harness.given(registered(barred, codes=["B.1"], desensitization_barred=True, **closed),
                  registered(allowed, codes=["B.2"], **closed), at=MON)
    user = dict(department="nb-civil", role="USER")
    refused, reviewed = harness.when(request(new_id("req"), barred, ["B.1"], policy=NB, user=user, desensitized=True),
                                     request(new_id("req"), allowed, ["B.2"], policy=NB, user=user, desensitized=True),
                                     at=MON)
    assert (refused["rule"], refused["article"]) == (
        "desensitization-barred",
        "Ningbo Art. 16, 17 (可以经脱敏等处理后向行政机关和公共服务单位提供，法律、法规另有规定的除外)")
    assert reviewed["status"] == "accepted"
