"""What the commands of several users share: printing rows, reading files and instants given on
the command line, the options several commands take, and the engines and keys they open."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infra import output, progress
from infra.config import Settings
from infra.database import make_engine


def print_rows(rows: Any, as_json: bool, table: list[str]) -> None:
    if as_json:
        print(json.dumps(output.jsonable(rows), ensure_ascii=False, indent=2, default=str))
        return
    for line in output.table(rows if isinstance(rows, list) else [rows], table):
        print(line)


def verdict_line(r: dict[str, Any]) -> str:
    head = f"line {r['line']}: "
    if r["status"] == "invalid":
        return head + f"INVALID {r['error']}"
    what = f"{r['type']} {r['aggregate_id']} #{r['sequence']}"
    if r["status"] == "accepted":
        return head + f"accepted {what} (event {r['event_id']})"
    if r["status"] == "rejected":
        return head + f"REJECTED {what}: {r['rule']} ({r['article']}): {r['error']}"
    if r["status"] == "dead-lettered":
        return head + f"DEAD-LETTERED {what}: {r['error']}"
    why = f": {r['error']}" if r.get("error") else ""
    return head + f"NO VERDICT {what} within the timeout (event {r['event_id']}){why}"


def read_engine(settings: Settings):
    """The projections, opened read-only: a query never takes the projector's write lock."""
    from sqlalchemy import inspect

    from projections.tables import event_log
    engine = make_engine(settings.projection_url, read_only=True)
    with engine.connect() as conn:
        if not inspect(conn).has_table(event_log.name):
            raise SystemExit(f"govshare: no projections at {settings.projection_url.split('?')[0]} yet: "
                             f"start `govshare up` first")
    return engine


def bootstrap(settings: Settings) -> str:
    from infra import stages
    return stages.bootstrap(settings)


def keystore(path: str | None):
    from events.signing import DepartmentKey, Keystore
    if path is None:
        return None
    try:
        return Keystore(single=DepartmentKey.read(Path(path)))
    except ValueError as exc:
        raise SystemExit(f"govshare: --key {output.printable(str(exc))}") from None


def text_file(path: str) -> str:
    try:
        with (sys.stdin if path == "-" else open(path, encoding="utf-8")) as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"govshare: cannot read {path}: {exc}") from None


def json_file(path: str) -> Any:
    try:
        return json.loads(text_file(path))
    except json.JSONDecodeError as exc:
        raise SystemExit(f"govshare: cannot read {path} as JSON: {exc}") from None


def json_object(path: str) -> dict[str, Any]:
    data = json_file(path)
    if not isinstance(data, dict):
        raise SystemExit(f"govshare: {path} holds no JSON object")
    return data


# -- argument types and options ------------------------------------------------------------------

def instant(text: str) -> datetime:
    from events.records import instant as parsed
    # In UTC, as the projections store instants (SQLite keeps no zone). A time that does not
    # parse, or leaves the calendar in UTC, is argparse's one-line error, not a traceback.
    try:
        return parsed(text).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 instant: {exc}") from None


def zoned(text: str) -> datetime:
    """An instant given with its zone; one without is refused, with an example, rather than
    guessed."""
    from events.records import instant as parsed
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 instant: {exc}") from None
    if found.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no zone: write it with one, e.g. "
                                         f"{text}+08:00 (Beijing time) or {text}Z (UTC)")
    return parsed(found.isoformat())


# argparse names the type in the error it gives when one raises ValueError ("invalid _zoned
# value: '0001-01-01T00:00+05:00'"): the name it had before the command line was split.
zoned.__name__ = "_zoned"


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise ValueError(text)  # argparse's one-line error
    return number


def progress_every(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress-every", type=_positive, default=progress.EVERY, metavar="N",
                        help=f"a progress line on stderr every N records (default {progress.EVERY}) and "
                             f"one at the end; stdout keeps the result")


def limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=lambda text: int(text) or None, default=1000,
                        help="at most this many rows, oldest first (default 1000; 0: all)")
