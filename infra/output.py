"""What govshare hands to readers, made safe to open and impossible to misread: a terminal gets
printable text only, a spreadsheet gets no formulas, and every instant carries its zone.

Titles, reasons and messages come from publishers, so they may hold terminal escape sequences
(which can rewrite the screen, set the window title, or hide lines), bidirectional overrides,
or text a spreadsheet runs as a formula. `--json` keeps the data exact (JSON escapes control
characters itself); tables and CSV go through here.

Instants are written one way (`instant`): ISO 8601 with the offset of the zone of the row's
jurisdiction (`zone_of`: the policy profile's `timezone`), or UTC when the reader asks; never a
naive time, which a reader would take for local time or for UTC at a guess.
"""
from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from processors.profiles import Policies

# OWASP, "CSV Injection": a cell starting with one of these is read as a formula by Excel,
# LibreOffice and Google Sheets; a leading apostrophe makes it text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(value: Any) -> str:
    """A value as one line of printable text: control and format characters (ESC, CR, LF,
    C1 controls, bidirectional overrides, ...) shown escaped, None as nothing."""
    if value is None:
        return ""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(c: str) -> str:
    if c in _NAMED:
        return _NAMED[c]
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def width(text: str) -> int:
    """Columns a terminal gives the text: wide and full-width (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def table(rows: list[dict[str, Any]], columns: list[str], *, utc: bool = False, zone: tzinfo | None = None,
          policies: Policies | None = None) -> list[str]:
    """Aligned lines of printable cells, a header first; each instant in its row's zone
    (zone_of; `zone`: the zone of the row these rows belong to, such as an entry's versions)."""
    cells = [[_cell(r.get(c), zone_of(r, zone, utc=utc, policies=policies)) for c in columns] for r in rows]
    widths = [max([width(c)] + [width(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(pad(c, w) for c, w in zip(columns, widths))]
    lines += ["  ".join(pad(cell, w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    return lines


def _cell(value: Any, zone: tzinfo) -> str:
    if isinstance(value, datetime):
        return instant(value, zone, seconds=True)
    return printable(value.isoformat() if isinstance(value, date) else value)


def csv_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet evaluates (OWASP's advice: prefix a formula's start with ')."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def jsonable(value: Any, *, utc: bool = False, zone: tzinfo | None = None, policies: Policies | None = None) -> Any:
    """A value as `--json`, the exports and the HTTP API all hand it out: every instant in ISO
    8601 with its offset, in the zone of its row's jurisdiction (zone_of), so a reader sees the
    clock the deadlines were counted on and all of them give the same text for the same row;
    `utc`: every instant in UTC (+00:00) instead. SQLite hands back naive UTC instants."""
    if isinstance(value, dict):
        inner = zone_of(value, zone, utc=utc, policies=policies)
        return {k: jsonable(v, utc=utc, zone=inner, policies=policies) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, utc=utc, zone=zone, policies=policies) for v in value]
    if isinstance(value, datetime):
        return instant(value, zone or (timezone.utc if utc else platform_zone(policies)))
    if isinstance(value, date):
        return value.isoformat()
    return value


def instant(value: datetime, zone: tzinfo, *, seconds: bool = False) -> str:
    """The one way govshare writes an instant for a reader: ISO 8601 with the zone's offset,
    never a naive time (`2026-12-15T00:00:00+08:00`); `seconds`, for a table or a line of
    text, cut to the second with a space for the T (`2026-12-15 00:00:00+08:00`)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    local = aware.astimezone(zone)
    return local.isoformat(sep=" ", timespec="seconds") if seconds else local.isoformat()


def instants_in(row: Mapping[str, Any], names) -> dict[str, Any]:
    """The row with the ISO 8601 texts under `names` read back as instants, for jsonable to
    show in the row's zone (the trail writes the instants of its sealed records as UTC text)."""
    return {**row, **{k: datetime.fromisoformat(row[k]) for k in names if isinstance(row.get(k), str)}}


def trail_step(step: dict[str, Any]) -> dict[str, Any]:
    """A step of the trail (projections/trail.py `steps`) with its instants, given as UTC text,
    read back as instants, so `govshare trail` and GET /v1/trail show them as every other time:
    when it occurred and was recorded, and the instants of the state after it."""
    from sqlalchemy import DateTime

    from projections.trail import STATE_OF
    timed = {**step, "when": instants_in(step["when"], step["when"])}
    if step.get("state_after"):
        table = STATE_OF[step["what"]["aggregate_type"]][0]
        timed["state_after"] = instants_in(step["state_after"], [
            c.name for c in table.columns if isinstance(c.type, DateTime)])
    return timed


# What places a row in a jurisdiction, after its own policy profile: the department that must
# act, then the one that provides, acts or asks (a row of the department directory, a token's).
DEPARTMENT_FIELDS = ("party", "provider", "department", "requester", "grantee", "actor_department",
                     "attempted_by_department", "reporter")


def zone_of(row: Mapping[str, Any], inherited: tzinfo | None = None, *, utc: bool = False,
            policies: Policies | None = None) -> tzinfo:
    """The zone a row's instants are shown in: UTC when asked; else its own policy profile's
    (`policy_id`); else the zone of the row it belongs to (`inherited`); else the zone of the
    first department it names; else the platform's (the common profile's). `policies`: the
    profiles and directory in use (default: the deployment's)."""
    if utc:
        return timezone.utc
    policies = policies or _deployment()
    own = policies.policy(row["policy_id"]) if isinstance(row.get("policy_id"), str) else None
    if own is not None:
        return _zone(own.timezone)
    if inherited is not None:
        return inherited
    for name in DEPARTMENT_FIELDS:
        department = policies.department(row[name]) if isinstance(row.get(name), str) else None
        policy = policies.policy(department.policy_id) if department is not None else None
        if policy is not None:
            return _zone(policy.timezone)
    return platform_zone(policies)


def platform_zone(policies: Policies | None = None) -> ZoneInfo:
    """The common profile's zone (policies.files.DEFAULT_TIMEZONE unless it names one): for
    instants of no jurisdiction, such as a checkpoint's or a time given on the command line."""
    return _zone((policies or _deployment()).baseline.timezone)


def _deployment() -> Policies:
    from processors.profiles import load_all  # read once, on the first instant shown
    return load_all()


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
