"""A server for the dashboard alone, until the API's app (web/app.py) includes its router:
`python -m web.dashboard.serve [--host H] [--port P]` serves http://H:P/dashboard/."""
from __future__ import annotations

import argparse

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from infra.config import Settings
from web.dashboard import router


def app(settings: Settings) -> FastAPI:
    served = FastAPI(title="govshare dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    served.state.settings = settings
    served.include_router(router)
    served.add_api_route("/", lambda: RedirectResponse("/dashboard/"), include_in_schema=False)
    return served


def main(argv: list[str] | None = None) -> int:
    import uvicorn
    parser = argparse.ArgumentParser(prog="python -m web.dashboard.serve", description=__doc__)
    # Loopback by default: the dashboard has no login of its own yet (see routes.viewer).
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    args = parser.parse_args(argv)
    uvicorn.run(app(Settings()), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
