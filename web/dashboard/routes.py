"""The dashboard's pages: what a supervisor (a data authority) looks at, read from the
projections through projections.queries, never written."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy import Engine, inspect

from infra.config import Settings
from infra.database import make_engine, stage_engines
from projections import queries
from projections.tables import event_log
from projections.trail import steps
from runtime import parking
from web.callers import Caller, took_part
from web.dashboard import charts
from web.dashboard.display import department_name, local_time, pretty_json, score_text

try:  # written beside the dashboard; until it is merged the page says so
    from projections import scorecards as scoring
except ImportError:
    scoring = None

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["local"] = local_time
templates.env.filters["pretty"] = pretty_json
templates.env.filters["score"] = score_text


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
                return _render(request, "problem.html", {"message": str(problem)}, problem.status)
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


def _settings(request: Request) -> Settings:
    """The app's settings (`app.state.settings`), or those of the environment."""
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
                raise Problem(503, f"no projections at {settings.projection_url.split('?')[0]} yet: "
                                   f"start `govshare up` first")
        request.app.state.dashboard_engine = engine
    return engine


def _names(request: Request) -> Callable[[str | None], str]:
    """Department id -> name, from the directory the app's settings name."""
    departments = getattr(getattr(request.app.state, "settings", None), "departments", None)
    return lambda d: department_name(d, str(departments) if departments else None)


def _render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    context = {"dept": _names(request), **context}
    return templates.TemplateResponse(request, template, context, status_code=status)


@pages.get("/")
def overview(request: Request, who: Caller = Depends(viewer)):
    engine, parties = _engine(request), who.parties
    parked = []
    if who.auditor:  # operators' concerns, naming no department: as the API, auditors only
        for stage_engine in stage_engines(_settings(request), read_only=True):
            parked += parking.listed(stage_engine)
            stage_engine.dispose()
    return _render(request, "overview.html", {
        "overdue": queries.deadline_list(engine, overdue=True, parties=parties),
        "due_soon": queries.deadline_list(engine, due_soon=True, parties=parties),
        "actions": queries.supervision(engine, parties=parties),
        "operator": who.auditor, "parked": parked, "dead": queries.dead(engine) if who.auditor else [],
        "trail": queries.trail_status(engine), "counts": queries.counts(engine, parties=parties)})


@pages.get("/scorecards")
def scorecards(request: Request, period: str = "month", who: Caller = Depends(viewer)):
    if scoring is None:
        return _render(request, "scorecards.html", {"available": False})
    engine = _engine(request)
    latest: dict[str, dict[str, Any]] = {}
    for row in _scored(scoring.scorecards, engine, period=period, parties=who.parties):
        if row["department"] not in latest or row["period"] > latest[row["department"]]["period"]:
            latest[row["department"]] = row
    rows = sorted(latest.values(), key=lambda r: r["department"])
    trends = {r["department"]: charts.trend(_points(_scored(scoring.scorecard_trend, engine, r["department"],
                                                            period=period)), width=140, height=30, axis=False)
              for r in rows}
    name = _names(request)
    return _render(request, "scorecards.html", {
        "available": True, "period": period, "rows": rows, "trends": trends,
        "chart": charts.bars([(name(r["department"]), r["score"]) for r in rows])})


@pages.get("/scorecards/{department}")
def scorecard(request: Request, department: str, period: str = "month", who: Caller = Depends(viewer)):
    if scoring is None:
        return _render(request, "scorecards.html", {"available": False})
    history = _scored(scoring.scorecards, _engine(request), department=department, period=period,
                      parties=who.parties)
    if not history:
        raise Problem(404, f"no scorecard for department {department!r} by {period}")
    return _render(request, "scorecard.html", {"department": department, "period": period,
                                               "history": history, "chart": charts.trend(_points(history))})


def _scored(query: Callable, *args, **kwargs) -> list[dict[str, Any]]:
    try:
        return query(*args, **kwargs)
    except ValueError as exc:  # an unknown period, said by the scorecards themselves
        raise Problem(400, str(exc)) from exc


def _points(history: list[dict[str, Any]]) -> list[tuple[str, float | None]]:
    return [(str(r["period"]), r["score"]) for r in history]


@pages.get("/requests")
def requests(request: Request, status: str | None = None, who: Caller = Depends(viewer)):
    engine = _engine(request)
    return _render(request, "requests.html", {
        "status": status, "counts": queries.request_counts(engine, parties=who.parties),
        "rows": queries.request_list(engine, status=status, parties=who.parties)})


@pages.get("/objections")
def objections(request: Request, status: str | None = None, who: Caller = Depends(viewer)):
    engine = _engine(request)
    return _render(request, "objections.html", {
        "status": status, "stats": queries.objection_stats(engine, parties=who.parties),
        "rows": queries.objection_list(engine, status=status, parties=who.parties)})


@pages.get("/story/{subject_id}")
def story(request: Request, subject_id: str, who: Caller = Depends(viewer)):
    """One subject's whole story: every step of its trail (refusals included) with who did
    what when and why, and the limits that ran on it; to a supervisor, only the story of a
    subject a department of its jurisdiction took part in."""
    engine = _engine(request)
    found = _causes_first(steps(engine, subject=subject_id))
    if not found or not took_part(found, who.parties):
        raise Problem(404, f"nothing recorded for {subject_id!r}")
    return _render(request, "story.html", {
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


@pages.get("/catalog")
def catalog(request: Request, q: str | None = None, who: Caller = Depends(viewer)):
    return _render(request, "catalog.html", {
        "q": q or "", "rows": queries.catalog(_engine(request), search=(q or "").strip() or None,
                                              providers=who.supervised)})


@pages.get("/catalog/{entry_id}")
def entry(request: Request, entry_id: str, who: Caller = Depends(viewer)):
    found = queries.entry(_engine(request), entry_id, parties=who.parties)
    if found is None or (who.supervised is not None and found["provider"] not in who.supervised):
        raise Problem(404, f"no catalog entry {entry_id!r}")
    return _render(request, "entry.html", {"entry": found})


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
