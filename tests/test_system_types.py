"""The method by the kind of system (#25 item 4; Ningbo Art. 19: 办事应用类系统应以接口共享方式实施；
决策分析类系统应以大数据中心平台集中分析处理方式实施；个别确需数据源落地的，由区大数据主管机构提交市大数据
主管部门论证后采用交换共享方式实施). In Ningbo a service system's request shares by interface, an
analysis system's by the platform's analysis, and an exchange is granted only once the
authority recorded the city's assessment. Elsewhere the texts are silent: the request's method
stands. On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.builders import LAW, event, new_id, registered, request

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
NB = "ningbo-haishu-2021"
USER = dict(department="nb-civil", role="USER")
AUTHORITY = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)
PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
METHODS = ["INTERFACE", "EXCHANGE", "PLATFORM_ANALYSIS"]


def ningbo_entry(harness, **attrs) -> str:
    entry = new_id()
    harness.given(registered(entry, department="nb-market", policy=NB, codes=[f"N.{entry}"], share_methods=METHODS,
                             **attrs), at=MON)
    return entry


def asked(entry: str, method: str, system_type: str | None, policy: str = NB, user=USER) -> dict:
    found = request(new_id("req"), entry, [f"N.{entry}"], policy=policy, user=user, method=method)
    found["payload"]["system_type"] = system_type
    return found


def test_a_ningbo_request_shares_by_the_method_of_its_kind_of_system(harness):
    entry = ningbo_entry(harness)
    service_by_interface, service_by_analysis, analysis_by_platform, analysis_by_interface, unsaid = harness.when(
        asked(entry, "INTERFACE", "SERVICE"), asked(entry, "PLATFORM_ANALYSIS", "SERVICE"),
        asked(entry, "PLATFORM_ANALYSIS", "ANALYSIS"), asked(entry, "INTERFACE", "ANALYSIS"),
        asked(entry, "PLATFORM_ANALYSIS", None), at=MON)
    assert [service_by_interface["status"], analysis_by_platform["status"], unsaid["status"]] == ["accepted"] * 3
    assert (service_by_analysis["rule"], service_by_analysis["article"]) == (
        "method-by-system-type",
        "Ningbo Art. 19 (办事应用类系统应以接口共享方式实施；决策分析类系统应以大数据中心平台集中分析处理方式实施)")
    assert analysis_by_interface["rule"] == "method-by-system-type"


def test_an_exchange_is_granted_only_once_the_city_assessed_it(harness):
    # Given a conditional Ningbo entry, and a service system's request for it by exchange,
    # agreed by the provider
    entry = ningbo_entry(harness, share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批",
                         restriction_reason="涉及个人信息")
    req = asked(entry, "EXCHANGE", "SERVICE")
    request_id = req["aggregate_id"]
    harness.given(req, event("ProviderConsulted", request_id, 2, {}, **AUTHORITY),
                  event("ProviderAnswered", request_id, 3, {"agrees": True}, **PROVIDER), at=MON)
    # When the authority approves it before any assessment, then it is refused
    [early] = harness.when(event("RequestApproved", request_id, 4, {"comment": "同意"}, **AUTHORITY), at=MON)
    assert (early["rule"], early["article"]) == (
        "exchange-needs-assessment",
        "Ningbo Art. 19 (个别确需数据源落地的，由区大数据主管机构提交市大数据主管部门论证后采用交换共享方式实施)")
    # When the city's assessment is recorded, then the approval stands and the grant opens
    harness.given(event("ExchangeAssessed", request_id, 4, {"reference": "甬数论〔2026〕3号",
                                                             "conclusion": "确需数据源落地"}, **AUTHORITY), at=MON)
    harness.given(event("RequestApproved", request_id, 5, {"comment": "同意"}, **AUTHORITY), at=MON)
    assert request_id in {e.payload.request_id for e in harness.emitted("grant")
                          if e.envelope.event_type == "GrantOpened"}


def test_elsewhere_the_request_s_method_stands(harness):
    # Guangdong's text ties no method to a kind of system: an analysis system asks by interface
    entry = new_id()
    harness.given(registered(entry, codes=[f"N.{entry}"], share_methods=METHODS), at=MON)
    [answer] = harness.when(asked(entry, "INTERFACE", "ANALYSIS", policy="guangdong-2018",
                                  user=dict(department="gd-amr", role="USER")), at=MON)
    assert answer["status"] == "accepted"
