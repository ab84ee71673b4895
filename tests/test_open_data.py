"""Open data (#25 item 6; Ningbo Art. 21-25, 32). Data is opened only after its security risk
assessment (Art. 32: 对拟开放的公共数据进行安全风险评估); non-shareable data and the most sensitive
grades are never open; conditionally open data (有条件开放) is used only on an application with the
use, the scenario and the security measures, assessed by the providing department and decided by
the data authority with a signed data-use agreement (Art. 25). On the in-memory runner over
SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from projections import queries
from tests.builders import LAW, event, new_id, registered

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
NB = "ningbo-haishu-2021"
PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
AUTHORITY = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)
RISK = {"reference": "开放风险评估〔2026〕2号", "conclusion": "脱敏后风险可控"}


def entry(harness, open_type: str = "CONDITIONAL_OPEN", **attrs) -> str:
    found = new_id()
    harness.given(registered(found, department="nb-market", policy=NB, codes=[f"O.{found}"], open_type=open_type,
                             **attrs), at=MON)
    return found


def applied(application: str, entry_id: str, **payload) -> dict:
    return event("OpenDataApplied", application, 1, {
        "entry_id": entry_id, "applicant": "宁波某交通科技有限公司", "applicant_kind": "LEGAL_PERSON",
        "purpose": "公交线路优化研究", "scenario": "城市交通规划", "security_measures": "数据脱敏、专人管理、不对外提供",
        **payload}, **AUTHORITY)


def test_data_no_department_may_have_or_of_the_most_sensitive_grade_is_never_open(harness):
    closed, top = harness.when(
        registered(new_id(), department="nb-market", policy=NB, share_type="NON_SHAREABLE", legal_basis=LAW,
                   restriction_reason="涉及个人隐私", open_type="OPEN"),
        registered(new_id(), department="nb-market", policy=NB, share_type="CONDITIONAL", legal_basis=LAW,
                   share_conditions="仅限执法", restriction_reason="涉及个人隐私", security_level="L4",
                   open_type="CONDITIONAL_OPEN"), at=MON)
    assert (closed["rule"], closed["article"]) == (
        "not-openable", "Ningbo Art. 32 (涉及国家秘密、商业秘密和个人隐私的公共数据不得向社会开放)")
    assert top["rule"] == "security-grade-not-allowed" and "not CONDITIONAL_OPEN" in top["error"]


def test_an_application_waits_for_the_risk_assessment_the_provider_and_the_agreement(harness):
    # Given a conditionally open entry of Ningbo's market regulator, not yet assessed
    data = entry(harness)
    application = new_id("oda")
    [unassessed] = harness.when(applied(application, data), at=MON)
    assert (unassessed["rule"], unassessed["article"]) == (
        "open-data-needs-risk-assessment", "Ningbo Art. 32 (对拟开放的公共数据进行安全风险评估)")
    # When the provider records the risk assessment, then an application is taken
    harness.given(event("OpenDataRiskAssessed", data, 2, RISK, **PROVIDER), at=MON)
    [vague] = harness.when(applied(new_id("oda"), data, security_measures=" "), at=MON)
    assert vague["rule"] == "open-application-details-required" and "security_measures" in vague["error"]
    harness.given(applied(application, data), at=MON)
    # When the authority approves before the provider's assessment, or without the agreement
    decide = lambda seq, **p: event("OpenDataApplicationDecided", application, seq, p, **AUTHORITY)  # noqa: E731
    [early] = harness.when(decide(2, approved=True, agreement="数据利用协议〔2026〕5号"), at=MON)
    assert (early["rule"], early["article"]) == (
        "open-data-provider-assessment-first", "Ningbo Art. 25 (经市大数据主管部门和数据提供单位综合评估后)")
    harness.given(event("OpenDataProviderAssessed", application, 2, {"agrees": True}, **PROVIDER), at=MON)
    [no_agreement] = harness.when(decide(3, approved=True), at=MON)
    assert (no_agreement["rule"], no_agreement["article"]) == ("open-data-agreement-required",
                                                               "Ningbo Art. 25 (签订数据利用协议)")
    # Then with the agreement it is approved, and the list shows it with its provider
    harness.given(decide(3, approved=True, agreement="数据利用协议〔2026〕5号"), at=MON)
    [row] = queries.open_data_list(harness.project())
    assert (row["status"], row["provider"], row["agreement"], row["provider_agrees"]) == (
        "approved", "nb-market", "数据利用协议〔2026〕5号", True)
    listed = json.loads(harness.cli("query", "open-data", "--status", "approved", "--json").stdout)
    assert [r["application_id"] for r in listed] == [application]


def test_open_data_needs_no_application_and_closed_data_takes_none(harness):
    open_, closed = entry(harness, "OPEN"), entry(harness, "NOT_OPEN")
    harness.given(event("OpenDataRiskAssessed", open_, 2, RISK, **PROVIDER),
                  event("OpenDataRiskAssessed", closed, 2, RISK, **AUTHORITY), at=MON)
    not_needed, not_open, elsewhere = harness.when(
        applied(new_id("oda"), open_), applied(new_id("oda"), closed),
        applied(new_id("oda"), open_) | {"actor": {"department": "gd-authority", "person": "xu.yan",
                                                   "role": "DATA_AUTHORITY"}, "policy": "guangdong-2018"}, at=MON)
    assert not_needed["rule"] == "open-application-not-needed"
    assert not_open["rule"] == "not-openable"
    assert elsewhere["rule"] == "authority-of-the-entry"


def test_the_open_catalog_lists_the_entries_whose_data_is_open(harness):
    """Ningbo Art. 22: 公共数据开放实行目录管理 — the open catalog is the catalog's open entries."""
    open_, conditional, closed = entry(harness, "OPEN"), entry(harness, "CONDITIONAL_OPEN"), entry(harness, "NOT_OPEN")
    engine = harness.project()
    assert {r["entry_id"] for r in queries.catalog(engine, open_type="OPEN")} == {open_}
    listed = json.loads(harness.cli("query", "catalog", "--open-type", "CONDITIONAL_OPEN", "--json").stdout)
    assert [r["entry_id"] for r in listed] == [conditional]
    assert closed in {r["entry_id"] for r in queries.catalog(engine, open_type="NOT_OPEN")}
