"""What the commands of several users share: printing rows and instants, reading files and
instants given on the command line, the options several commands take, and the engines and keys
they open."""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from infra import output, progress
from infra.config import Settings, home_origin, never_created
from infra.database import make_engine
from infra.environment import raw


def print_rows(rows: Any, as_json: bool, table: list[str], *, utc: bool = False,
               zone: tzinfo | None = None) -> None:
    """Rows as a table or JSON, each instant with its zone (infra/output.py: the row's
    jurisdiction's, or UTC with --utc)."""
    if as_json:
        print(json.dumps(output.jsonable(rows, utc=utc, zone=zone), ensure_ascii=False, indent=2, default=str))
        return
    for line in output.table(rows if isinstance(rows, list) else [rows], table, utc=utc, zone=zone):
        print(line)


def shown_instant(value: datetime | str, utc: bool = False) -> str:
    """An instant of no jurisdiction (a checkpoint's, one given on the command line) in a line
    of text: in the platform's zone, or UTC with --utc."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return output.instant(moment, timezone.utc if utc else output.platform_zone(), seconds=True)


def read_one_more(limit: int | None) -> int | None:
    """What to ask a query for, to learn whether `limit` rows are all there is."""
    return limit + 1 if limit else None


def first(rows: list, limit: int | None) -> tuple[list, bool]:
    """The first `limit` of rows read with read_one_more(limit), and whether more matched."""
    if not limit or len(rows) <= limit:
        return rows, False
    return rows[:limit], True


def say_more(limit: int, what: str, after: str | None = None) -> None:
    """A list cut at --limit says so, and how to see the rest, on stderr: stdout stays the
    table, JSON or CSV a script reads."""
    shown = what if limit > 1 else what.removesuffix("s")
    print(f"govshare: {limit} {shown} shown and more match (--limit {limit}): "
          + (f"the next page with --after {after}, " if after else "")
          + "all with --limit 0, or fewer with the filters (see --help)", file=sys.stderr)


def home_said(settings: Settings) -> str:
    """Which home the command looked in and why, for a message about a service not found."""
    return (f"home {settings.home.absolute()}: {home_origin()}"
            + ("" if raw("GOVSHARE_HOME") else "; set GOVSHARE_HOME to use another"))


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
    url = settings.projection_url
    never = SystemExit(f"govshare: no projections at {url.split('?')[0]} yet ({home_said(settings)}): "
                       f"start `govshare up` first")
    if never_created(url):
        raise never
    engine = make_engine(url, read_only=True)
    with engine.connect() as conn:
        if not inspect(conn).has_table(event_log.name):
            raise never
    return engine


def bootstrap(settings: Settings) -> str:
    """The broker's address: the configured cluster's, or the one `govshare up` started and
    wrote in the home; where none runs, a sentence naming the home looked in."""
    from infra import stages
    try:
        found = stages.bootstrap(settings)
    except SystemExit as exc:
        raise SystemExit(f"{exc.code} ({home_said(settings)})") from None
    if not settings.bootstrap_servers:
        _started_by_a_live_service(settings)
    return found


def _started_by_a_live_service(settings: Settings) -> None:
    # A `govshare up` that was killed leaves its broker.json behind, naming a broker gone with
    # it: waiting on that address would end in a timeout that names nothing.
    try:
        pid = int(json.loads(settings.runtime_file.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise SystemExit(f"govshare: no broker: the `govshare up` that wrote {settings.runtime_file} (pid {pid}) "
                         f"is no longer running; start it again ({home_said(settings)})") from None
    except PermissionError:
        pass  # alive, another user's


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
    """A time given on the command line (--as-of, --since, --until, ...), in UTC as the
    projections store instants. It must carry its zone: one without is refused with an example,
    never guessed (a Beijing midnight read as UTC would be eight hours late)."""
    from events.records import instant as parsed
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if found.tzinfo is not None:
            # ... and exists in UTC (0001-01-01T00:00+05:00 does not): argparse's one line.
            return parsed(found.isoformat()).astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is no ISO 8601 instant: {exc}") from None
    spec, zone = "minutes" if not (found.second or found.microsecond) else "auto", output.platform_zone()
    raise argparse.ArgumentTypeError(
        f"{text!r} has no zone, and govshare does not guess one: write it with its offset, e.g. "
        f"{found.replace(tzinfo=zone).isoformat(timespec=spec)} ({zone.key}) or "
        f"{found.isoformat(timespec=spec)}Z (UTC)")


def utc_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--utc", action="store_true", help="times in UTC (+00:00) rather than in the zone of "
                        "each row's jurisdiction (the platform's, where a row has none)")


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
                        help="at most this many rows, oldest first (default 1000; 0: all); a list cut "
                             "short says so on stderr")


def project_log(args, settings: Settings, *, as_of=None) -> int:
    """What `rebuild` and `replay` run: the deployment's projector (every signature checked)
    caught up with the log into the empty database --into, as of `as_of` if given; how many
    records it applied."""
    from events.topics import Topics
    from infra import stages
    from infra.system import SYSTEM
    from infra.topics import cluster_id
    from projections.runner import catch_up
    kafka = settings.kafka(bootstrap(settings))
    projector = stages.projector(args.into, settings, Topics(settings.topic_prefix), as_of=as_of)
    shown = progress.Progress("applied", args.progress_every)
    applied = catch_up(projector, SYSTEM.inputs("projector", projector.topics), kafka, cluster_id(kafka),
                       progress=shown)
    shown.done(applied)
    return applied

