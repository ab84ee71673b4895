"""Where every govshare process logs, and how: one line per event on standard output, either
for people (`console`) or for a log collector (`json`: one JSON object a line with an ISO 8601
timestamp in UTC, level, logger and event). Set once per process by the CLI, so the supervisor
and each stage it spawns (which inherit GOVSHARE_LOG_FORMAT) log alike."""
from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(level: int, log_format: str, stream: TextIO | None = None) -> None:
    """`stream`: where the lines go, standard output unless a command's standard output is its
    answer (a simulation's JSON, say), whose workings then go to standard error."""
    # structlog's own loggers and the standard library's (Alembic, confluent-kafka's Python
    # side) go through one handler, so a collector never meets a line in another shape.
    stamped = [structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name,
               structlog.processors.TimeStamper(fmt="iso", utc=True)]
    structlog.configure(
        processors=[*stamped, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Filtered at the call: a debug line per event costs nothing unless asked for.
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=stamped,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_rendering(log_format)]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # govshare logs each migration itself (database.migrated); Alembic's lines would repeat it.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


def _rendering(log_format: str) -> list:
    if log_format == "json":
        # A traceback becomes one string field of the line, not lines of its own.
        return [structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False, default=str)]
    # Colour codes only on a terminal: in a file or a pipe they are noise.
    return [structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty())]
