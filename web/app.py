"""The HTTP application: the API (/v1), the operator endpoints and, where it is installed, the
dashboard. OpenAPI at /openapi.json, its pages at /docs."""
from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from functools import cache
from typing import Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from sqlalchemy.exc import OperationalError, ProgrammingError
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.config import Settings
from infra.database import make_engine
from projections.paging import BadCursor
from web import dashboard_access, directory, ops, submissions, subscriptions, views
from web.callers import Refused
from web.dashboard import router as dashboard
from web.problems import REF, ProblemDetails, answer, problem
from web.ratelimit import TokenBuckets

log = structlog.get_logger("govshare.api")

# /readyz counts a stage caught up at this many records behind the log or fewer: a stage under
# steady load is always a batch or so behind, and ready means "answers current", not "idle".
READY_LAG = 0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(settings: Settings, *, clock: Callable[[], float] = time.monotonic,
               now: Callable[[], datetime] = utc_now) -> FastAPI:
    """`clock` times the rate limits (seconds, any origin); `now` is the wall clock the webhook
    secrets' grace periods and signatures are reckoned by. A test gives its own of each."""
    app = FastAPI(title="govshare", version=_version(), lifespan=_lifespan, docs_url=None, redoc_url=None,
                  description="Sharing government data between departments: submit events, read "
                              "the catalog, requests, grants, deadlines and the trail; receive "
                              "verdicts and deadline warnings as CloudEvents (webhooks), signed "
                              "as Standard Webhooks. Every refusal is an RFC 9457 problem "
                              "(application/problem+json) naming the rule broken.")
    _state(app, settings)
    app.state.now = now
    app.state.rate_limits = TokenBuckets(settings.api_rate_per_minute, clock=clock)
    app.include_router(submissions.router)
    app.include_router(views.router)
    app.include_router(ops.router)
    app.include_router(subscriptions.router)
    app.include_router(dashboard)  # its pages under /dashboard, for supervisors signed in
    dashboard_access.install(app)
    directory.install(app)
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
            schemas["ProblemDetails"] = ProblemDetails.model_json_schema()
            _problems_everywhere(found)
            app.openapi_schema = found
        return app.openapi_schema
    app.openapi = spec


def _problems_everywhere(doc: dict) -> None:
    """FastAPI documents its validation errors as HTTPValidationError; they are answered as
    problems (see _errors), and so is every refusal of a route that takes a token (401, 429)."""
    for path in doc.get("paths", {}).values():
        for operation in path.values():
            found = operation.get("responses", {})
            if "422" in found and "application/json" in found["422"].get("content", {}) and \
                    "HTTPValidationError" in str(found["422"]["content"]["application/json"]):
                found["422"] = answer("a parameter or the body is not valid")
            if operation.get("security"):
                found.setdefault("401", answer("no token, or one unknown or revoked"))
                found.setdefault("429", answer("the token's rate limit is spent: see Retry-After"))
    schemas = doc.get("components", {}).get("schemas", {})
    if "HTTPValidationError" not in str(doc.get("paths")):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    assert REF.rsplit("/", 1)[1] in schemas


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
async def _lifespan(app: FastAPI):
    """While the application serves: the webhook notifier (web/notifier.py), and the one
    producer and verdict stream every POST /v1/events uses (web/submissions.Pipeline)."""
    from events.topics import Topics
    from web.notifier import Notifier
    from web.submissions import Pipeline
    notifier = Notifier(app.state.settings, app.state.api_engine, app.state.projections, now=app.state.now)
    notifier.start()
    pipeline = app.state.pipeline = Pipeline(app.state.kafka, Topics(app.state.settings.topic_prefix))
    pipeline.start()
    try:
        yield
    finally:
        await asyncio.gather(asyncio.to_thread(notifier.stop), asyncio.to_thread(pipeline.close))


def _state(app: FastAPI, settings: Settings) -> None:
    from audit.trail import origin_of
    from audit import keys
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
    """Every refusal as a problem (web/problems.py): the routes' own (Refused), FastAPI's
    validation, paging, the database away, no such route or method, and a fault of ours."""
    def refused(request: Request, status: int, rule: str, message: str,
                headers: dict[str, str] | None = None, **extensions):
        headers = {**({"WWW-Authenticate": "Bearer"} if status == 401 else {}), **(headers or {})}
        return problem(request.url.path, status, rule, message, headers=headers or None, **extensions)

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused):
        return refused(request, exc.status, exc.rule, exc.message, exc.headers, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # One sentence per fault, as the CLI's argparse gives: where, and what is wrong.
        faults = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return refused(request, 422, "invalid-request", faults)

    @app.exception_handler(BadCursor)
    async def _cursor(request: Request, exc: BadCursor):
        return refused(request, 400, "bad-cursor", str(exc))

    @app.exception_handler(OperationalError)
    @app.exception_handler(ProgrammingError)
    async def _database(request: Request, exc: Exception):
        # No projections yet (before the first `govshare up`), or the database is away.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return refused(request, 503, "database-unavailable", f"the projections cannot be read: {reason}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return refused(request, 404, "not-found", f"there is no {request.url.path}: the routes are "
                           f"listed at /openapi.json", exc.headers)
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow") or ""
            return refused(request, 405, "method-not-allowed", f"{request.method} is not allowed on "
                           f"{request.url.path}" + (f"; allowed: {allowed}" if allowed else ""), exc.headers)
        if exc.status_code == 400:  # FastAPI's own: a JSON body it could not parse (nested too deep, say)
            return refused(request, 400, "malformed-json", f"the body is not JSON that can be read "
                           f"({exc.detail})", exc.headers)
        from http import HTTPStatus
        try:
            rule = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-").replace("'", "")
        except ValueError:
            rule = f"http-{exc.status_code}"
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return refused(request, exc.status_code, rule, detail, exc.headers)

    @app.exception_handler(Exception)
    async def _fault(request: Request, exc: Exception):
        # Not the caller's doing: said as a problem too, and logged (uvicorn logs the traceback).
        log.error("api.fault", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
        return refused(request, 500, "internal-error", f"the request failed on our side "
                       f"({type(exc).__name__}); it is logged, and may be retried")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("govshare")
    except PackageNotFoundError:
        return "unknown"
