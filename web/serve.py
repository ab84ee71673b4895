"""`govshare run api`: the HTTP application under uvicorn, in the foreground until SIGTERM; its
lifespan runs the webhook notifier beside it."""
from __future__ import annotations

import sys

import structlog
import uvicorn

from infra import logs, output
from infra.config import Settings, SettingsError
from infra.environment import SettingError
from infra.migrate import migrate
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


if __name__ == "__main__":  # `govshare run api` becomes this: python -m web.serve
    try:
        settings = Settings()
    except (SettingError, SettingsError) as exc:
        # As the command line says it: one line naming the setting, not a traceback; exit 2.
        print(f"govshare: {output.printable(str(exc))}", file=sys.stderr)
        sys.exit(2)
    logs.configure(settings.log_level, settings.log_format)
    run(settings)
