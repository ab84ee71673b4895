"""`govshare run api`: the HTTP application under uvicorn, in the foreground until SIGTERM; its
lifespan runs the webhook notifier beside it."""
from __future__ import annotations

import structlog
import uvicorn

from infra.config import Settings
from migrations.upgrade import migrate
from web.app import create_app

log = structlog.get_logger("govshare.api")


def run(settings: Settings) -> None:
    migrate(settings, only="api")  # started alone, before any `govshare up`: its tables exist
    config = uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port,
                            log_config=None, access_log=False, lifespan="on", server_header=False)
    server = uvicorn.Server(config)
    original = server.startup

    async def startup(sockets=None):
        await original(sockets)
        if server.started:
            for listening in server.servers:
                for sock in listening.sockets:
                    host, port = sock.getsockname()[:2]
                    host = f"[{host}]" if ":" in host else host
                    log.info("api.ready", url=f"http://{host}:{port}/", openapi=f"http://{host}:{port}/openapi.json")
    server.startup = startup
    server.run()
