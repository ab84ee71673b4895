"""The supervisor dashboard as a person uses it: a real service breaches a deadline on an
injected clock, the dashboard serves its projections over real HTTP, and headless Chromium
opens the pages, served by `govshare up` beside the API, after signing in with a data authority's
token. Screenshots land in tests/artifacts/screenshots/."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from infra.submit import submit_lines
from processors.rules.working_days import local_day
from projections import queries
from tests.builders import attributes, event, lines, new_id, registered
from tests.browser import shot, sign_in, token
from tests.conftest import start_service, wait_for
from web.dashboard.display import last_day
from web.i18n import label, use

HB = dict(department="hb-civil", policy="hebei-2023")
AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
USER = dict(department="hb-psb", role="USER", policy="hebei-2023")
TITLE = "河北省养老机构名录"


@pytest.fixture(scope="module")
def world(broker, browser, tmp_path_factory):
    """Given a Hebei department with two change obligations, one met by a revision and one
    running to its limit, and a request and an objection on the revised entry, served by the
    dashboard; the pages a supervisor saw before the clock passed the limit, then the breach.
    The clock starts now: the events are stamped on the wall clock, and the met obligation
    must be met before its limit on it."""
    home = tmp_path_factory.mktemp("dashboard")
    clock = home / "clock"
    clock.write_text(datetime.now(timezone.utc).isoformat())  # clock-ok: the injected clock starts at the events' stamp
    prefix = f"t{uuid.uuid4().hex[:10]}"
    service = start_service(home, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": prefix,
                                   "GOVSHARE_CLOCK": f"file:{clock}", "GOVSHARE_TICK_SECONDS": "0.2"})
    try:
        ids = _scenario(service)
        url = service.api_url + "/dashboard"  # served by `govshare up`, beside the API
        service.api_answers()
        page = browser.new_page(locale="zh-CN", timezone_id="UTC", viewport={"width": 1400, "height": 900})
        sign_in(page, url, token(service, "hb-authority", "read"))
        world = {"service": service, "clock": clock, "page": page, "url": url, **ids}
        world["before"] = {name: _text(page, f"{url}/{name}") for name in ("", "scorecards")}
        world["before"]["score"] = _score(page)
        _breach(world)
        yield world
        page.close()
    finally:
        service.stop()


def _scenario(service) -> dict[str, str]:
    late, revised, req, objection = new_id(), new_id(), new_id("req"), new_id("obj")
    today = local_day(datetime.now(timezone.utc), "Asia/Shanghai").isoformat()  # clock-ok: the clock file's day
    obligation = {"trigger": "LAW_REVISED", "reference": "条例修订", "received_on": today}
    submitted = submit_lines(lines(
        registered(late, title=TITLE, **HB),
        event("ChangeObligationRaised", late, 2, {"obligation_id": "ob-late", **obligation}, **AUTH),
        registered(revised, codes=["HB.1"], title="河北省社会组织登记信息", **HB),
        event("ChangeObligationRaised", revised, 2, {"obligation_id": "ob-met", **obligation}, **AUTH),
        event("RevisionSubmitted", revised, 3, {"revision_id": "rev-1", "obligation_id": "ob-met", "attributes":
              attributes(codes=["HB.1", "HB.2"], title="河北省社会组织登记信息（第二版）")}, **HB),
        event("RevisionApproved", revised, 4, {"revision_id": "rev-1"}, **AUTH)),
        service.kafka, service.topics, timeout=60)
    submitted += submit_lines(lines(event("RequestSubmitted", req, 1, {
        "entry_id": revised, "items": ["HB.1"], "purpose": "养老服务补贴审核", "scenario": "一网通办",
        "business_process": "补贴发放", "method": "INTERFACE", "period_end": "2099-12-31"}, **USER),
        event("ObjectionReported", objection, 1, {"entry_id": revised, "kind": "ERROR", "records": ["冀民社字001号"],
              "fields": ["registered_address"], "expected": "石家庄市长安区"}, **USER)),
        service.kafka, service.topics, timeout=60)
    assert [r["status"] for r in submitted] == ["accepted"] * 8, [r.get("error") for r in submitted]
    engine = service.engine()
    wait_for(lambda: queries.request_list(engine) and (queries.entry(engine, revised) or {}).get("version") == 2
             and queries.deadline_list(engine, subject=late) and queries.objection_list(engine)
             and queries.deadline_list(engine, subject=revised, status="met"),
             60, "the scenario's projections")
    return {"late": late, "revised": revised, "request": req, "objection": objection}


def _breach(world) -> None:
    """When the clock passes the obligation's limit, the deadline engine records the breach."""
    engine = world["service"].engine()
    [limit] = queries.deadline_list(engine, subject=world["late"])
    world["due"] = queries.utc(limit["due_at"])
    world["clock"].write_text(world["due"].isoformat())
    wait_for(lambda: queries.deadline_list(engine, overdue=True) and queries.supervision(engine), 60,
             "the breach and the rectification order")


def _text(page, url: str) -> str:
    page.goto(url)
    return page.locator("main").inner_text()


def _score(page) -> str:
    """hb-civil's score on the scorecards page open in `page`."""
    return page.locator('tr.scorecard[data-department="hb-civil"] td.score').inner_text()


def with_language(language: str, make):
    with use(language):
        return make()


def _steps(page) -> list[str]:
    """The event of each step of the story open in `page`, as labelled (a step's heading)."""
    return [step.locator("h3 .label").first.inner_text() for step in page.locator("ol.steps li.step").all()]


def test_the_overview_lists_the_breach_and_the_rectification_order(world):
    assert "无逾期事项。" in world["before"][""]
    page = world["page"]
    page.goto(f"{world['url']}/")
    shot(page, "overview-after-breach")
    overdue = page.locator("#overdue").inner_text()
    assert world["late"] in overdue and "目录更新" in overdue and "已逾期" in overdue
    assert "河北省民政厅" in overdue, "the party by its name from the department directory"
    assert last_day(world["due"]) in overdue, "the limit as its last day, on Beijing time"
    assert "责令限期改正" in page.locator("#actions").inner_text()
    assert page.locator("#parked").count() == 0, "parked messages are the operators' (auditors'), not a supervisor's"

    page.locator("#overdue").get_by_role("link", name=world["late"]).click()
    page.wait_for_url(f"**/story/{world['late']}")
    shot(page, "breached-entry-story")
    # The entry's events, the limit its obligation set going, the warning-free breach, and the
    # rectification order with its own limit (trail order across topics is the notary's).
    assert sorted(_steps(page)) == sorted(with_language("zh_CN", lambda: [label("event", e) for e in (
        "EntryRegistered", "ChangeObligationRaised", "DeadlineScheduled", "DeadlineBreached",
        "RectificationOrdered", "DeadlineScheduled")]))
    raised = page.locator("ol.steps li.step").nth(1).inner_text()
    assert "河北省政务服务管理办公室" in raised, "who raised the obligation, by name"
    assert "已逾期" in page.locator("#limits").inner_text()


def test_a_request_drills_down_to_its_story(world):
    page = world["page"]
    page.goto(f"{world['url']}/requests")
    page.locator("select[name=status]").select_option("granted")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**/requests?status=granted**")
    assert world["request"] in page.locator("#rows").inner_text()
    shot(page, "requests")

    page.get_by_role("link", name=world["request"]).click()
    page.wait_for_url(f"**/story/{world['request']}")
    shot(page, "request-story")
    assert _steps(page) == with_language("zh_CN", lambda: [label("event", "RequestSubmitted"),
                                                            label("event", "GrantOpened")])
    first = page.locator("ol.steps li.step").first.inner_text()
    assert "河北省公安厅" in first and "li.ming" in first and "使用部门" in first
    assert "养老服务补贴审核" in first and "接口" in first, "the request's fields, labelled"
    assert world["request"] in page.locator("h1").inner_text() and "全程记录" in page.locator("h1").inner_text()


def test_the_catalog_finds_a_chinese_title_and_shows_its_versions(world):
    page = world["page"]
    page.goto(f"{world['url']}/catalog")
    page.locator("input[name=search]").fill("社会组织")
    page.get_by_role("button", name="筛选").click()
    entries = page.locator("#rows")
    assert world["revised"] in entries.inner_text() and world["late"] not in entries.inner_text()
    shot(page, "catalog-search")

    page.get_by_role("link", name=world["revised"]).click()
    versions = page.locator("#versions tr.version")
    assert versions.count() == 2
    assert "河北省社会组织登记信息（第二版）" in versions.nth(0).inner_text()
    assert "修订已批准" in versions.nth(0).inner_text()
    assert "v1" in versions.nth(1).inner_text() and "目录登记" in versions.nth(1).inner_text()
    shot(page, "catalog-entry-versions")


def test_an_unknown_subject_gets_a_one_line_page_not_a_traceback(world):
    page = world["page"]
    response = page.goto(f"{world['url']}/story/no-such-thing")
    assert response.status == 404
    assert page.locator(".problem").inner_text() == "未找到 no-such-thing 的记录。"


def test_objections_by_state_drill_down_to_the_report(world):
    page = world["page"]
    page.goto(f"{world['url']}/objections?status=open")
    listed = page.locator("#rows").inner_text()
    assert world["objection"] in listed and "河北省公安厅" in listed and "数据错误" in listed
    shot(page, "objections")

    page.get_by_role("link", name=world["objection"]).click()
    assert _steps(page)[0] == with_language("zh_CN", lambda: label("event", "ObjectionReported"))
    reported = page.locator("ol.steps li.step").first.inner_text()
    assert "河北省公安厅" in reported and "石家庄市长安区" in reported, "the payload readable, Chinese as written"
    shot(page, "objection-story")


def test_the_scorecard_shows_the_department_and_its_score_falls_after_the_breach(world):
    assert world["before"]["score"] == "100", "one change obligation due so far, met in time"
    page = world["page"]
    page.goto(f"{world['url']}/scorecards")
    shot(page, "scorecards-after-breach")
    row = page.locator('tr.scorecard[data-department="hb-civil"]')
    assert "河北省民政厅" in row.inner_text()
    labels = page.locator("select[name=label] option").all_inner_texts()
    if int(row.locator("td.breaches").inner_text() or 0) == 0:  # the breach fell in a later period
        page.locator("select[name=label]").select_option(max(labels))
        page.get_by_role("button", name="查看").click()
        row = page.locator('tr.scorecard[data-department="hb-civil"]')
    assert float(_score(page)) < 100 and int(row.locator("td.breaches").inner_text()) >= 1, \
        "the breach lowers the score of its period"
    assert page.locator("#chart svg rect.bar").count() >= 1

    row.get_by_role("link", name="河北省民政厅").click()
    page.wait_for_url("**/scorecards/hb-civil?period=month")
    history = page.locator("#history tbody tr").all()
    assert sum(int(r.locator("td.breaches").inner_text()) for r in history) == 1, "one breach in its history"
    assert page.locator("#trend svg polyline").count() >= 1, "a line over the last periods"
    assert "逾期" in page.locator("#facts").inner_text(), "the facts behind the figures"
    shot(page, "scorecard-trend")


def test_the_dashboard_asks_a_token_and_refuses_one_that_is_no_supervisors(world, browser):
    page = browser.new_page()
    try:
        page.goto(f"{world['url']}/scorecards")
        assert page.locator("input[name=token]").count() == 1, "no page without signing in"
        # The sign-in page is styled like the rest: its stylesheet needs no token.
        assert page.locator("header").evaluate("e => getComputedStyle(e).display") == "flex"
        page.fill("input[name=token]", token(world["service"], "hb-civil", "read"))
        page.click("button[type=submit]")
        assert "不是数据主管部门" in page.locator("main").inner_text()
        shot(page, "sign-in-refused")
    finally:
        page.close()
