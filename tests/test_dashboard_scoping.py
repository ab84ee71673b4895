"""A supervisor sees on every dashboard page exactly what the API gives the same token: the rows of
its own jurisdiction. Two data authorities of different jurisdictions and an auditor sign in to a
real `govshare up` in headless Chromium; each page, each count and each chart is checked for
what it shows and what it must not show, and a plain HTTP client with the session cookie (what
`curl -b` does) reads the same."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import date, timedelta

import pytest

from infra.submit import submit_lines
from processors.grant_keeper import grant_id
from projections import queries
from projections.scorecards import scorecards
from tests.browser import shot, sign_in, token
from tests.builders import LAW, event, lines, new_id, registered, request
from tests.conftest import running_service, wait_for
from web.dashboard_access import COOKIE

NB = dict(policy="ningbo-haishu-2021")
PAGES = ("", "requests", "objections", "scorecards", "catalog")


@pytest.fixture(scope="module")
def world(broker, browser, tmp_path_factory):
    """Given a Guangdong request refused with reasons, a Ningbo entry with an objection on it and
    a Ningbo misuse (a usage violation, so a Ningbo scorecard), served by `govshare up`."""
    with running_service("sqlite", broker, tmp_path_factory.mktemp("scoping"), {}) as service:
        gd_entry, gd_req = new_id("gd-entry"), new_id("gd-req")
        nb_entry, nb_req, nb_objection = new_id("nb-entry"), new_id("nb-req"), new_id("nb-obj")
        gd = submit_lines(lines(
            registered(gd_entry, codes=["G.1"], share_type="CONDITIONAL", legal_basis=LAW,
                       share_conditions="仅限审批", title="广东省社会保险参保信息")),
            service.kafka, service.topics, 60)
        gd += submit_lines(lines(
            request(gd_req, gd_entry, items=("G.1",)),
            event("RequestRejected", gd_req, 2, {"reasons": "广东拒绝理由：用途不明"},
                  department="gd-authority", role="DATA_AUTHORITY")), service.kafka, service.topics, 60)
        nb = submit_lines(lines(registered(nb_entry, codes=["N.1"], department="nb-civil",
                                           title="宁波市海曙区社会组织信息",
                                           information_system="海曙区社会组织管理系统", **NB)),
                          service.kafka, service.topics, 60)
        use = {"grant_id": grant_id(nb_req), "entry_id": nb_entry, "items": ["N.1"], "purpose": "营销",
               "recipient": "nb-market", "person": "sys", "method": "INTERFACE", "scenario": "一网通办"}
        nb += submit_lines(lines(
            event("RequestSubmitted", nb_req, 1, {"entry_id": nb_entry, "items": ["N.1"], "purpose": "审批",
                  "scenario": "一网通办", "business_process": "b", "method": "INTERFACE",
                  "period_end": (date.today() + timedelta(days=365)).isoformat()},  # clock-ok: a period ahead
                  department="nb-market", role="USER", **NB),
            event("ObjectionReported", nb_objection, 1, {"entry_id": nb_entry, "kind": "ERROR",
                  "records": ["甬001"], "fields": ["name"], "expected": "海曙区某某协会"},
                  department="nb-market", role="USER", **NB),
            event("DataAccessed", new_id("acc"), 1, use, department="nb-market", role="USER", **NB)),
            service.kafka, service.topics, 60)
        assert [r["status"] for r in gd + nb] == ["accepted"] * 7, [r.get("error") for r in gd + nb]
        engine = service.engine()
        wait_for(lambda: len(queries.request_list(engine)) == 2 and queries.objection_list(engine)
                 and scorecards(engine, department="nb-market"), 60, "the scenario's projections")
        url = service.api_url + "/dashboard"
        tokens = {who: token(service, department, scope) for who, department, scope in (
            ("gd", "gd-authority", "read"), ("nb", "nb-authority", "read"), ("audit", "gd-security", "audit"))}
        pages = {}
        for who, given in tokens.items():
            page = browser.new_page(locale="zh-CN", viewport={"width": 1366, "height": 768})
            sign_in(page, url, given)
            pages[who] = page
        yield {"service": service, "url": url, "tokens": tokens, "pages": pages, "gd_entry": gd_entry,
               "gd_req": gd_req, "nb_entry": nb_entry, "nb_req": nb_req, "nb_objection": nb_objection}
        for page in pages.values():
            page.close()


def _text(page, url: str) -> str:
    page.goto(url)
    return page.locator("main").inner_text()


def _everything(world, who: str) -> str:
    """Every page's text as `who` reads it, the stories of every subject included."""
    page = world["pages"][who]
    texts = [_text(page, f"{world['url']}/{name}") for name in PAGES]
    shot(page, f"scoping-{who}-overview")
    return "\n".join(texts)


def test_guangdong_s_authority_sees_guangdong_and_nothing_of_ningbo(world):
    seen = _everything(world, "gd")
    assert world["gd_req"] in seen and world["gd_entry"] in seen
    for ningbo in (world["nb_entry"], world["nb_req"], world["nb_objection"], "nb-market", "nb-civil",
                   "宁波", "海曙"):
        assert ningbo not in seen, ningbo
    page = world["pages"]["gd"]
    assert page.goto(f"{world['url']}/story/{world['nb_objection']}").status == 404
    assert page.goto(f"{world['url']}/catalog/{world['nb_entry']}").status == 404
    assert page.goto(f"{world['url']}/story/{world['gd_req']}").status == 200
    assert "广东拒绝理由" in page.locator("main").text_content(), "the refusal's reasons in its own story"


def test_ningbo_s_authority_sees_ningbo_and_no_guangdong_request_or_refusal(world):
    seen = _everything(world, "nb")
    assert world["nb_req"] in seen and world["nb_objection"] in seen and world["nb_entry"] in seen
    for guangdong in (world["gd_req"], world["gd_entry"], "广东拒绝理由", "gd-amr", "gd-hrss", "广东"):
        assert guangdong not in seen, guangdong
    page = world["pages"]["nb"]
    assert page.goto(f"{world['url']}/story/{world['gd_req']}").status == 404
    page.goto(f"{world['url']}/scorecards")
    departments = {r.get_attribute("data-department") for r in page.locator("tr.scorecard").all()}
    assert departments == {"nb-market"}, departments
    chart = page.locator("#chart").text_content()
    assert "海曙区市场监督管理局" in chart and "广东" not in chart, "the chart: Ningbo's department only"


def test_an_auditor_sees_every_jurisdiction_and_the_operator_s_sections(world):
    seen = _everything(world, "audit")
    for subject in (world["gd_req"], world["nb_req"], world["nb_objection"], world["gd_entry"], world["nb_entry"]):
        assert subject in seen, subject
    page = world["pages"]["audit"]
    assert page.goto(f"{world['url']}/operations").status == 200
    assert "暂存待处理消息" in page.locator("main").inner_text(), "the operators' page: parked, dead letters, trail"
    assert world["pages"]["gd"].goto(f"{world['url']}/operations").status == 403


def test_each_page_counts_what_the_api_gives_the_same_token(world):
    """The counts and rows of the pages and of /v1 agree, per token: one scoping for both."""
    for who, given in world["tokens"].items():
        api = {view: _api(world, given, f"/v1/{view}") for view in ("requests", "objections", "catalog")}
        page = world["pages"][who]
        page.goto(f"{world['url']}/requests")
        listed = page.locator("#rows").inner_text()
        assert sorted(r["request_id"] for r in api["requests"]["items"]) == \
            sorted(r for r in (world["gd_req"], world["nb_req"]) if r in listed), who
        page.goto(f"{world['url']}/catalog")
        entries = page.locator("#rows").inner_text()
        assert sorted(e["entry_id"] for e in api["catalog"]["items"]) == \
            sorted(e for e in (world["gd_entry"], world["nb_entry"]) if e in entries), who


def test_curl_with_ningbo_s_cookie_reads_no_guangdong_subject(world):
    for name in (*PAGES, f"story/{world['gd_req']}", f"catalog/{world['gd_entry']}"):
        try:
            html = _get(world, f"/dashboard/{name}", cookie=world["tokens"]["nb"])
        except urllib.error.HTTPError as refused:
            assert refused.code == 404, name
            # The one-line answer repeats the id asked for, and nothing of what it names.
            html = refused.read().decode().replace(name.split("/")[1], "")
        for guangdong in (world["gd_req"], world["gd_entry"], "广东拒绝理由", "gd-amr", "广东"):
            assert guangdong not in html, (name, guangdong)


def _get(world, path: str, *, cookie: str | None = None, bearer: str | None = None) -> str:
    request_ = urllib.request.Request(world["service"].api_url + path)
    if cookie:
        request_.add_header("Cookie", f"{COOKIE}={cookie}")
    if bearer:
        request_.add_header("Authorization", f"Bearer {bearer}")
    with urllib.request.urlopen(request_, timeout=30) as got:
        return got.read().decode()


def _api(world, given: str, path: str) -> dict:
    return json.loads(_get(world, path, bearer=given))


def _moved(world, policy: str, name: str) -> None:
    """The platform administrator moves nb-market into another jurisdiction (a signed
    DepartmentChanged through the broker, like any submission)."""
    from sqlalchemy import func, select
    from projections.tables import event_log
    service = world["service"]
    with service.engine().connect() as conn:
        sequence = conn.execute(select(func.max(event_log.c.sequence)).where(
            event_log.c.aggregate_type == "department", event_log.c.aggregate_id == "nb-market")).scalar()
    [done] = submit_lines(lines(event("DepartmentChanged", "nb-market", sequence + 1, {
        "name": name, "policy_id": policy, "roles": ["PROVIDER", "USER"], "reason": "机构改革"},
        department="platform-admin", role="PLATFORM_ADMIN", policy="common")), service.kafka, service.topics, 60)
    assert done["status"] == "accepted", done


def test_a_department_changed_reaches_the_api_s_scoping_and_the_dashboard(world):
    """One directory: moved into Guangdong, nb-market's request is Guangdong's authority's to see,
    in the API and on the dashboard under the department's new name; moved back, it is not.
    (Last in this module: it changes the directory the others read, and restores it.)"""
    gd, nb_req = world["tokens"]["gd"], world["nb_req"]

    def gd_sees() -> bool:
        return nb_req in {r["request_id"] for r in _api(world, gd, "/v1/requests")["items"]}

    assert not gd_sees()
    _moved(world, "guangdong-2018", "迁入广东的测试部门")
    wait_for(gd_sees, 60, "Guangdong's authority to see nb-market's request")
    page = world["pages"]["gd"]
    page.goto(f"{world['url']}/requests")
    assert nb_req in page.locator("#rows").inner_text() and "迁入广东的测试部门" in page.locator("main").inner_text()
    _moved(world, "ningbo-haishu-2021", "海曙区市场监督管理局")
    wait_for(lambda: not gd_sees(), 60, "nb-market's request to leave Guangdong's view")
