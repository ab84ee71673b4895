"""The HTTP application: the API (/v1), the operator endpoints and, where it is installed, the
dashboard. OpenAPI at /openapi.json, its pages at /docs."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from functools import cache

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.exc import OperationalError, ProgrammingError

from infra.config import Settings
from infra.database import make_engine
from projections.paging import BadCursor
from web import dashboard_access, ops, submissions, subscriptions, views
from web.dashboard import router as dashboard
from web.callers import Refused

# /readyz counts a stage caught up at this many records behind the log or fewer: a stage under
# steady load is always a batch or so behind, and ready means "answers current", not "idle".
READY_LAG = 0


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="govshare", version=_version(), lifespan=_webhooks, docs_url=None, redoc_url=None,
                  description="Sharing government data between departments: submit events, read "
                              "the catalog, requests, grants, deadlines and the trail; receive "
                              "verdicts and deadline warnings as CloudEvents (webhooks).")
    _state(app, settings)
    app.include_router(submissions.router)
    app.include_router(views.router)
    app.include_router(ops.router)
    app.include_router(subscriptions.router)
    app.include_router(dashboard)  # its pages under /dashboard, for supervisors signed in
    dashboard_access.install(app)
    app.add_api_route("/", lambda: RedirectResponse("/dashboard/"), include_in_schema=False)
    _docs(app)
    _errors(app)
    _schemas(app)
    return app


def _schemas(app: FastAPI) -> None:
    """/openapi.json names the event line a body holds (its schema is documented, not enforced
    by FastAPI: each line gets its own answer, web/submissions.py)."""
    from fastapi.openapi.utils import get_openapi

    from web.submissions import EventLine

    def spec() -> dict:
        if app.openapi_schema is None:
            found = get_openapi(title=app.title, version=app.version, description=app.description,
                                routes=app.routes)
            schemas = found.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in EventLine.model_json_schema(ref_template="#/components/schemas/{model}").items():
                if name == "$defs":
                    schemas.update(schema)
            schemas["EventLine"] = {k: v for k, v in EventLine.model_json_schema(
                ref_template="#/components/schemas/{model}").items() if k != "$defs"}
            app.openapi_schema = found
        return app.openapi_schema
    app.openapi = spec


def _docs(app: FastAPI) -> None:
    """/docs: Swagger UI 5 (which reads OpenAPI 3.1, as FastAPI writes it) from the files the
    fastapi-offline package ships, served by this app: no CDN, so a deployment offline, as a
    government network often is, still reads its API's documentation."""
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    app.mount("/docs-assets", StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"),
              name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title="govshare API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon.png")


@asynccontextmanager
async def _webhooks(app: FastAPI):
    """The webhook notifier runs while the application serves (web/notifier.py)."""
    from web.notifier import Notifier
    notifier = Notifier(app.state.settings, app.state.api_engine, app.state.projections)
    notifier.start()
    try:
        yield
    finally:
        await asyncio.to_thread(notifier.stop)


def _state(app: FastAPI, settings: Settings) -> None:
    from events.trail import origin_of
    from infra import keys
    from infra.stages import bootstrap
    app.state.settings = settings
    app.state.ready_lag = READY_LAG
    app.state.api_engine = make_engine(settings.api_database_url)
    # Read-only: the API never takes the projector's write lock, nor writes a projection.
    app.state.projections = cache(lambda: make_engine(settings.projection_url, read_only=True))
    def kafka() -> dict[str, str]:
        try:
            return settings.kafka(bootstrap(settings))
        except SystemExit as exc:  # no broker configured nor running: the caller hears why
            raise Refused(503, "broker-unavailable", str(exc.code)) from None
    app.state.kafka = kafka
    app.state.trail_keys = lambda: keys.ring_keys(settings.trail_key_file, origin_of(settings.topic_prefix))


def _errors(app: FastAPI) -> None:
    def refused(status: int, rule: str, message: str) -> JSONResponse:
        return JSONResponse({"error": message, "rule": rule}, status_code=status,
                            headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused):
        return refused(exc.status, exc.rule, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # One sentence per fault, as the CLI's argparse gives: where, and what is wrong.
        faults = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return refused(422, "invalid-request", faults)

    @app.exception_handler(BadCursor)
    async def _cursor(request: Request, exc: BadCursor):
        return refused(400, "bad-cursor", str(exc))

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    async def _database(request: Request, exc: Exception):
        # No projections yet (before the first `govshare up`), or the database is away.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return refused(503, "database-unavailable", f"the projections cannot be read: {reason}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("govshare")
    except PackageNotFoundError:
        return "unknown"
