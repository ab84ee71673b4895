"""The dashboard's pages: what a supervisor (a data authority) works in every day, in Chinese first
(web/i18n.py), read from the projections through the same view declarations the CLI and the API
use (projections/views.py), for the same caller: every list is the API's page of the same view.
Never written: a page only reads."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import Engine, inspect

from infra import output
from infra.config import Settings
from infra.database import make_engine, stage_engines
from projections import queries
from projections import scorecards as scoring
from projections.tables import event_log
from projections.trail import steps
from projections.views import VIEWS, View
from runtime import parking
from web import directory, i18n
from web.callers import Caller, took_part
from web.dashboard import charts, display

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True, pgettext=i18n.pgettext,
                                        npgettext=i18n.npgettext)
templates.env.globals.update(label=i18n.label, cell=display.cell, field=display.field, department=display.department,
                             department_name=display.department_name, person=display.person,
                             version_note=display.version_note,
                             local=display.local_time, last_day=display.last_day, score=display.score_text,
                             languages=i18n.LANGUAGES)

# The lists a supervisor works through, in the menu's order (each a view of projections/views.py).
LISTS = ("requests", "objections", "deadlines", "rejections", "grants", "accesses", "problems",
         "supervision", "incidents", "conflicts", "entrustments", "uncatalogued", "projects", "open-data", "catalog")
PAGE = 50  # rows per page
EXPORT_MAX = 100_000  # rows an export holds at most (Excel takes about a million)
COOKIE_LANGUAGE = "govshare_lang"


class Problem(Exception):
    """What the supervisor asked cannot be shown; the message says why in one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Page(APIRoute):
    """A route whose Problem becomes a page with its one-line reason (not a traceback)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return render(request, "problem.html", {"message": str(problem)}, problem.status)
        return handle


def viewer() -> Caller:
    """Who looks, and so what they see (a Caller, scoped as the API scopes the same token). The
    app serving the router replaces this dependency (app.dependency_overrides[viewer]):
    web/dashboard_access.py signs supervisors in by token. Without it nobody may look."""
    raise Problem(401, "the dashboard has no sign-in installed (web/dashboard_access.install)")


pages = APIRouter(prefix="/dashboard", route_class=_Page, dependencies=[Depends(viewer)],
                  default_response_class=HTMLResponse, include_in_schema=False)
# The stylesheet serves the sign-in page too: outside the pages' `viewer`.
assets = APIRouter(prefix="/dashboard", route_class=_Page, include_in_schema=False)


# -- the request's language, engine and rendering -----------------------------------------------

def language(request: Request) -> str:
    """zh_CN unless the reader chose English (`?lang=en`, kept in a cookie)."""
    return i18n.language_of(request.query_params.get("lang") or request.cookies.get(COOKIE_LANGUAGE))


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang = language(request)
    with i18n.use(lang):
        answer = templates.TemplateResponse(request, template, {"lang": lang, **context}, status_code=status)
    if request.query_params.get("lang"):
        answer.set_cookie(COOKIE_LANGUAGE, lang, httponly=True, samesite="strict")
    return answer


def _settings(request: Request) -> Settings:
    found = getattr(request.app.state, "settings", None)
    if found is None:
        found = request.app.state.settings = Settings()
    return found


def _engine(request: Request) -> Engine:
    """The projections opened read-only, one engine per app; before the first `govshare up`
    there are none, and the page says so."""
    settings = _settings(request)
    engine = getattr(request.app.state, "dashboard_engine", None)
    if engine is None:
        engine = make_engine(settings.projection_url, read_only=True)
        with engine.connect() as conn:
            if not inspect(conn).has_table(event_log.name):
                engine.dispose()
                raise Problem(503, i18n.gettext("No projections yet: start `govshare up` first."))
        request.app.state.dashboard_engine = engine
    return engine


def _now(request: Request) -> datetime:
    """What "today" is for the overview: the deployment's clock (a test's, or the real one)."""
    from runtime.clock import clock_from
    return clock_from(_settings(request).clock).now()


# -- the overview: what needs the supervisor's action today --------------------------------------

@pages.get("/")
def overview(request: Request, who: Caller = Depends(viewer)):
    engine, parties = _engine(request), who.parties
    since = _now(request) - timedelta(days=7)
    refusals = [r for r in queries.rejected(engine, parties=parties, newest=10) if queries.utc(r["recorded_at"]) >= since]
    return render(request, "overview.html", {
        "overdue": queries.deadline_list(engine, overdue=True, parties=parties),
        "due_soon": queries.deadline_list(engine, due_soon=True, parties=parties),
        "refusals": refusals,
        "disputes": queries.request_list(engine, status="disputed", parties=parties),
        "problems": queries.problem_list(engine, undecided=True, parties=parties),
        "actions": queries.supervision(engine, parties=parties),
        "counts": queries.counts(engine, parties=parties)})


# -- the lists -------------------------------------------------------------------------------

def _filters(request: Request, view: View) -> dict[str, Any]:
    given = {}
    for f in view.filters:
        value = request.query_params.get(f.name) or request.query_params.get(f.name.replace("-", "_"))
        if f.flag:
            given[f.name] = value in ("1", "true", "on", "yes")
        elif value and f.choices and value not in f.choices:
            raise Problem(400, i18n.gettext("No such filter value: %(value)s") % {"value": value})
        else:
            given[f.name] = value or f.default
    return given


def _departments(who: Caller) -> list[str]:
    """The departments a filter offers: those whose rows the viewer sees."""
    every = sorted(directory.current())
    return every if who.parties is None else [d for d in every if d in who.parties]


def _rows(request: Request, view: View, who: Caller, *, limit: int | None, after: str | None) -> list[dict]:
    try:
        return view.read(_engine(request), parties=who.parties, auditor=who.auditor, authority=who.authority,
                         limit=limit, after=after, **_filters(request, view))
    except PermissionError:
        raise Problem(403, i18n.gettext("This list is for auditors.")) from None
    except ValueError as exc:  # a cursor or a filter value the view cannot take
        raise Problem(400, str(exc)) from None


def list_page(name: str) -> Callable:
    view = VIEWS[name]

    def page(request: Request, who: Caller = Depends(viewer)):
        after = request.query_params.get("after")
        rows = _rows(request, view, who, limit=PAGE, after=after)
        return render(request, "list.html", {
            "view": view, "rows": rows, "filters": _filters(request, view), "departments": _departments(who),
            "next_cursor": view.next_cursor(rows, PAGE), "first_page": not after,
            "query": {k: v for k, v in request.query_params.items() if k not in ("after", "lang")}})

    def export(request: Request, who: Caller = Depends(viewer)):
        rows = _rows(request, view, who, limit=EXPORT_MAX, after=None)
        with i18n.use(language(request)):
            body = _csv(view, rows)
        filename = f"govshare-{view.name}.csv"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    page.__name__, export.__name__ = name.replace("-", "_"), f"{name.replace('-', '_')}_csv"
    return page, export


def _csv(view: View, rows: list[dict]) -> bytes:
    """UTF-8 with a byte-order mark, so that Excel opens the Chinese as written; every cell made
    safe against formula injection (infra/output.csv_cell)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([i18n.label("column", c) for c in view.columns])
    for r in rows:
        writer.writerow([output.csv_cell(display.text(c, r.get(c), r)) for c in view.columns])
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


for _name in LISTS:
    _page, _export = list_page(_name)
    pages.add_api_route(f"/{_name}.csv", _export, methods=["GET"], response_class=Response, name=f"{_name}-csv")
    pages.add_api_route(f"/{_name}", _page, methods=["GET"], name=_name)


# -- one subject ----------------------------------------------------------------------------

@pages.get("/story/{subject_id}")
def story(request: Request, subject_id: str, who: Caller = Depends(viewer)):
    """One subject's whole story: every step of its trail (refusals included) with who did
    what when and why, each detail a labelled field on Beijing time, and the limits that ran
    on it; to a supervisor, only a subject a department of its jurisdiction took part in."""
    engine = _engine(request)
    found = _causes_first(steps(engine, subject=subject_id))
    if not found or not took_part(found, who.parties):
        raise Problem(404, i18n.gettext("Nothing recorded for %(subject)s.") % {"subject": subject_id})
    return render(request, "story.html", {
        "subject_id": subject_id, "steps": found,
        "deadlines": queries.deadline_list(engine, subject=subject_id, parties=who.parties)})


def _causes_first(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trail's order, with each step after the step that caused it: the notary seals topics
    as it reads them, so a grant may be sealed before the request it answers (and the stages'
    clocks need not agree, so a recorded time does not order them either)."""
    ids = {s["event_id"] for s in found}
    pending, ordered, placed = list(found), [], set()
    while pending:
        ready = next((s for s in pending if s["why"]["causation_id"] not in ids - placed), pending[0])
        pending.remove(ready)
        ordered.append(ready)
        placed.add(ready["event_id"])
    return ordered


@pages.get("/catalog/{entry_id}")
def entry(request: Request, entry_id: str, who: Caller = Depends(viewer)):
    found = queries.entry(_engine(request), entry_id, parties=who.parties)
    if found is None or (who.supervised is not None and found["provider"] not in who.supervised):
        raise Problem(404, i18n.gettext("No catalog entry %(entry)s.") % {"entry": entry_id})
    return render(request, "entry.html", {"entry": found})


# -- departments and their scorecards --------------------------------------------------------

@pages.get("/departments")
def departments(request: Request, who: Caller = Depends(viewer)):
    rows = [d for d in queries.directory(_engine(request))
            if who.parties is None or d["department"] in who.parties]
    return render(request, "departments.html", {"rows": sorted(rows, key=lambda d: d["department"])})


@pages.get("/scorecards")
def scorecards(request: Request, period: str = "month", label: str | None = None, who: Caller = Depends(viewer)):
    """Every department compared over one period (the latest with anything to count, or the one
    chosen), each with its trend over the last periods."""
    engine = _engine(request)
    every = _scored(scoring.scorecards, engine, period=period, parties=who.parties)
    labels = sorted({r["period"] for r in every})
    shown = label if label in labels else (labels[-1] if labels else None)
    rows = sorted((r for r in every if r["period"] == shown), key=lambda r: r["department"])
    trends = {r["department"]: charts.trend(_points(scoring.trend_periods(every, r["department"], period, shown)),
                                            width=160, height=34, axis=False) for r in rows}
    return render(request, "scorecards.html", {
        "period": period, "label_": shown, "labels": labels, "rows": rows, "trends": trends,
        "chart": charts.bars([(display.department_name(r["department"]), r["score"]) for r in rows],
                             none=i18n.gettext("no duty due"))})


@pages.get("/scorecards/{department}")
def scorecard(request: Request, department: str, period: str = "month", who: Caller = Depends(viewer)):
    engine = _engine(request)
    history = _scored(scoring.scorecards, engine, department=department, period=period, parties=who.parties)
    if not history:
        raise Problem(404, i18n.gettext("No scorecard for %(department)s.") % {"department": department})
    points = scoring.trend_periods(history, department, period, history[-1]["period"])
    return render(request, "scorecard.html", {
        "department": department, "department_name": display.department_name(department), "period": period, "history": history, "chart": charts.trend(_points(points)),
        "facts": scoring.facts_of(engine, department, period)})


def _scored(query: Callable, *args, **kwargs) -> list[dict[str, Any]]:
    try:
        return query(*args, **kwargs)
    except ValueError as exc:  # an unknown period, said by the scorecards themselves
        raise Problem(400, str(exc)) from exc


def _points(history: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    return [(str(r["period"]), r["score"]) for r in history]


# -- what operators watch: auditors only ---------------------------------------------------------

@pages.get("/operations")
def operations(request: Request, who: Caller = Depends(viewer)):
    if not who.auditor:
        raise Problem(403, i18n.gettext("The operations page is for auditors."))
    parked = []
    for stage_engine in stage_engines(_settings(request), read_only=True):
        parked += parking.listed(stage_engine)
        stage_engine.dispose()
    engine = _engine(request)
    return render(request, "operations.html", {
        "parked": parked, "dead": queries.dead(engine, limit=100), "trail": queries.trail_status(engine),
        "counts": queries.counts(engine)})


# -- the stylesheet, signing out ---------------------------------------------------------------------

@assets.get("/static/{name}")
def static(name: str):
    """The stylesheet (a route, not a mount, so it travels with the router into any app)."""
    known = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    if name not in known:
        raise Problem(404, f"no static file {name!r}")
    return FileResponse(known[name])


# The pages' route names are the dashboard's own: in an app beside the API (whose views are
# named `requests`, `catalog`, ...), a template's url_for('requests') must still find this page.
NAME_PREFIX = "dashboard-"
for _route in (*pages.routes, *assets.routes):
    _route.name = NAME_PREFIX + _route.name
router = APIRouter()  # what an app includes: the pages, behind `viewer`, and their assets
router.include_router(pages)
router.include_router(assets)


@pass_context
def _page_url(context, route: str, /, **params) -> str:
    return str(context["request"].url_for(NAME_PREFIX + route, **params))


templates.env.globals["url_for"] = _page_url
