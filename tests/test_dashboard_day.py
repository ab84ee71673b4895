"""A supervisor's day in the dashboard, in headless Chromium at 1366x768 against a real HTTP server
(`govshare run api`) over a world of three jurisdictions (tests/supervision_day.py, run through
the whole System on the in-memory runner, on the same clock the server reads): sign in, find
today's overdue items, open one, follow it to the department's scorecard, export a list, print
the scorecard, sign out. Every page is Chinese (no English word outside codes and names) and
shows nothing of another jurisdiction. Screenshots land in tests/artifacts/screenshots/."""
from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest

from projections import queries
from tests import supervision_day
from tests.browser import shot, sign_in, token
from tests.conftest import free_port, wait_for
from tests.harness import Harness

ROOT = Path(__file__).resolve().parent.parent
# The pages a supervisor opens; their lists are the views of projections/views.py.
PAGES = ("", "requests", "objections", "deadlines", "rejections", "grants", "accesses", "problems", "supervision",
         "catalog", "departments", "scorecards")
ENGLISH = re.compile(r"[A-Za-z]{2,}")


class Server:
    """`govshare run api` over a home whose projections the in-memory runner filled."""

    def __init__(self, harness: Harness, home: Path):
        self.env = {**harness.env, "GOVSHARE_API_PORT": str(free_port()), "GOVSHARE_CLOCK": f"file:{home / 'clock'}"}
        (home / "clock").write_text(harness.sim.clock.now().isoformat())
        self.url = f"http://127.0.0.1:{self.env['GOVSHARE_API_PORT']}"
        self.log = home / "api.log"
        self.process = subprocess.Popen([sys.executable, "-m", "infra.cli", "run", "api"], env=self.env, cwd=ROOT,
                                        stdout=open(self.log, "wb"), stderr=subprocess.STDOUT)
        wait_for(self._answers, 60, "the HTTP API to answer")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as got:
                return got.status == 200
        except OSError:
            assert self.process.poll() is None, self.log.read_text()
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)


@pytest.fixture(scope="module")
def day(browser, tmp_path_factory):
    home = tmp_path_factory.mktemp("day")
    harness = Harness(f"sqlite:///{home / 'govshare.db'}", home)
    ids = supervision_day.build(harness)
    server = Server(harness, home)
    tokens = {who: token(server, department, scope) for who, department, scope in (
        ("gd", "gd-authority", "read"), ("nb", "nb-authority", "read"), ("audit", "gd-security", "audit"))}
    context = browser.new_context(locale="zh-CN", viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    yield {"harness": harness, "server": server, "ids": ids, "tokens": tokens, "page": page,
           "url": server.url + "/dashboard", "browser": browser}
    context.close()
    server.stop()
    harness.sim.close()


def test_a_supervisors_day_from_overdue_item_to_scorecard_export_and_sign_out(day):
    page, url, ids = day["page"], day["url"], day["ids"]
    sign_in(page, url, day["tokens"]["gd"])
    shot(page, "day-1-overview")
    # Today's overdue items: Guangdong's lapsed change obligation, with its party and article.
    overdue = page.locator("#overdue")
    assert "逾期" in overdue.locator("h2").inner_text()
    row = overdue.locator("tr.limit", has_text=ids["gd_late"])
    assert row.count() >= 1, overdue.inner_text()
    assert "目录更新" in row.first.inner_text() and "广东省市场监督管理局" in row.first.inner_text()
    assert "截止" in row.first.inner_text(), "a limit is shown as its last day"

    # Open it: its record, each step with labelled fields, on Beijing time.
    row.first.get_by_role("link", name=ids["gd_late"]).click()
    page.wait_for_url(f"**/story/{ids['gd_late']}")
    shot(page, "day-2-story")
    steps = page.locator("ol.steps li.step")
    assert steps.count() >= 3
    text = page.locator("main").inner_text()
    assert "目录登记" in text or "登记" in text
    assert "变更原因" in text and "法律法规修订" in text, "a payload's fields labelled, codes by their label"
    assert "已逾期" in page.locator("#limits").inner_text()

    # Follow the party to its scorecard: the breach counts, and each figure links to its facts.
    page.locator("#limits a.department", has_text="广东省市场监督管理局").first.click()
    page.wait_for_url("**/scorecards/gd-amr")
    shot(page, "day-3-scorecard")
    facts = page.locator("#facts tr.fact")
    assert facts.count() >= 1 and "逾期" in page.locator("#facts").inner_text()
    assert page.locator("#trend svg polyline").count() >= 1, "the trend is drawn as a line"
    assert page.locator("#trend svg text").count() >= 6, "over at least six periods"
    page.emulate_media(media="print")
    shot(page, "day-4-scorecard-printed")
    assert page.locator("header").evaluate("e => getComputedStyle(e).display") == "none", "printed without the menu"
    page.emulate_media(media="screen")

    # Export a list: UTF-8 with a BOM, Chinese headers, each row as shown.
    page.goto(f"{url}/deadlines?overdue=1")
    shot(page, "day-5-overdue-limits")
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    raw = Path(download.value.path()).read_bytes()
    assert raw.startswith("\ufeff".encode()), "Excel opens Chinese CSV only with a BOM"
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时限编号", "事项类型", "办理对象"] and any(ids["gd_late"] in r for r in rows[1:])
    assert all(r[rows[0].index("状态")] == "已逾期" for r in rows[1:]), rows

    # Sign out: the next page asks for the token again.
    page.goto(f"{url}/")
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url("**/dashboard/login")
    page.goto(f"{url}/requests")
    assert page.locator("input[name=token]").count() == 1
    shot(page, "day-6-signed-out")


@pytest.mark.parametrize("who", ["gd", "nb", "audit"])
def test_every_page_is_chinese_and_shows_only_the_viewers_jurisdiction(day, who):
    page, url, ids = day["page"], day["url"], day["ids"]
    page.context.clear_cookies()
    sign_in(page, url, day["tokens"][who])
    others = {"gd": ("nb-", "hb-", "宁波", "海曙", "河北"), "nb": ("gd-", "hb-", "广东", "河北"), "audit": ()}[who]
    mine = {"gd": ("gd_refused", "gd_entry", "gd-amr"), "nb": ("nb_escalated", "nb_entry", "nb-civil"),
            "audit": ("hb_late", "hb_met", "hb-civil")}[who]
    pages = list(PAGES) + [f"story/{ids[mine[0]]}", f"catalog/{ids[mine[1]]}", f"scorecards/{mine[2]}"]
    if who == "audit":
        pages.append("operations")
    for name in pages:
        answer = page.goto(f"{url}/{name}")
        assert answer.status == 200, (name, page.locator("main").inner_text())
        words = english_words(page.content())
        assert not words, f"English on the zh-CN page /{name}: {sorted(words)[:20]}"
        shown = page.locator("main").inner_text()
        for other in others:
            assert other not in shown, (name, other)
    shot(page, f"day-pages-{who}")


def test_lists_page_by_their_cursor_and_filter_by_state_and_department(day):
    page, url = day["page"], day["url"]
    page.context.clear_cookies()
    sign_in(page, url, day["tokens"]["audit"])
    page.goto(f"{url}/deadlines?status=breached")
    listed = page.locator("table.list tr.row")
    assert listed.count() >= 1 and all("已逾期" in r.inner_text() for r in listed.all())
    every = queries.deadline_list(day["harness"].engine)
    page.goto(f"{url}/deadlines")
    assert page.locator("table.list tr.row").count() == min(len(every), 50)
    page.goto(f"{url}/requests?requester=nb-health")
    assert [r.get_attribute("data-id") for r in page.locator("table.list tr.row").all()] == [day["ids"]["nb_escalated"]]


def test_english_is_available(day):
    page, url = day["page"], day["url"]
    page.context.clear_cookies()
    sign_in(page, url, day["tokens"]["gd"])
    page.goto(f"{url}/?lang=en")
    assert "What needs action today" in page.locator("h1").inner_text()
    page.goto(f"{url}/requests")  # the choice is kept
    assert "Share requests" in page.locator("h1").inner_text()
    page.goto(f"{url}/?lang=zh_CN")
    assert page.locator("h1").inner_text() == "今日待办"


class _Visible(HTMLParser):
    """The text a person reads on a page, less codes (<code>) and names (marked translate="no",
    as HTML marks what is not to be translated), scripts, styles and what is marked as another
    language (the link to the English version, `hreflang`)."""
    SKIP = {"code", "script", "style", "title"}

    def __init__(self):
        super().__init__()
        self.skipping: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag in self.SKIP or found.get("hreflang") or found.get("translate") == "no":
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.text.append(data)


def english_words(html: str) -> set[str]:
    found = _Visible()
    found.feed(html)
    words = set(ENGLISH.findall(" ".join(found.text)))
    # The product's own name and the CSV format's are names.
    return words - {"govshare", "CSV", "UTC"}


def test_the_api_is_documented_offline(day):
    """/docs is Swagger UI from the packaged bundle (no CDN, as an offline network needs), and
    /openapi.json carries the event line, the verdicts and every read view's page."""
    page = day["page"]
    page.goto(day["server"].url + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 15, "every route drawn by the packaged Swagger UI"
    assert "cdn" not in page.content().lower()
    shot(page, "api-docs")
    spec = page.evaluate("() => fetch('/openapi.json').then(r => r.json())")
    schemas = spec["components"]["schemas"]
    assert {"EventLine", "Verdicts", "RequestsPage", "RequestsRow", "DeadlinesRow", "ScorecardsRow"} <= set(schemas)
    assert "overdue" in schemas["RequestsRow"]["properties"] and "due_at" in schemas["RequestsRow"]["properties"]
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/EventLine"} in body["anyOf"]
