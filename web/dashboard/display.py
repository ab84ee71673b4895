"""How the dashboard shows instants and departments: one place for each."""
from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from processors.profiles import load_all
from projections.queries import utc

# Supervisors read times on Beijing time whatever zone the server runs in (the issue asks for
# Asia/Shanghai); the zone's abbreviation is printed so nobody mistakes it for UTC.
ZONE = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime | str | None) -> str:
    """`2026-11-21 14:05 CST` for an instant (aware, naive UTC from SQLite, or ISO text)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return utc(value).astimezone(ZONE).strftime("%Y-%m-%d %H:%M %Z")


@cache
def _names(departments_file: str | None) -> dict[str, str]:
    return {d.id: d.name for d in load_all(departments_file=departments_file).departments.values()}


def department_name(department: str | None, departments_file: str | None = None) -> str:
    """The department's name from the directory (its id where the directory does not list it)."""
    if not department:
        return "—"
    return _names(departments_file).get(department, department)


def pretty_json(value) -> str:
    """An event's payload as indented JSON with its Chinese as written (not \\u escapes)."""
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def score_text(score: float | None) -> str:
    """A score as people write it (100, 47.5); a dash where nothing weighed was due."""
    return "—" if score is None else f"{round(score, 1):g}"
