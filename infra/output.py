"""What govshare hands to readers, made safe to open: a terminal gets printable text only, and
a spreadsheet gets no formulas.

Titles, reasons and messages come from publishers, so they may hold terminal escape sequences
(which can rewrite the screen, set the window title, or hide lines), bidirectional overrides,
or text a spreadsheet runs as a formula. `--json` keeps the data exact (JSON escapes control
characters itself); tables and CSV go through here.
"""
from __future__ import annotations

import unicodedata
from datetime import date, datetime, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

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


def table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    """Aligned lines of printable cells, a header first."""
    cells = [[printable(r.get(c)) for c in columns] for r in rows]
    widths = [max([width(c)] + [width(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(pad(c, w) for c, w in zip(columns, widths))]
    lines += ["  ".join(pad(cell, w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    return lines


def csv_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet evaluates (OWASP's advice: prefix a formula's start with ')."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def jsonable(value: Any) -> Any:
    """A value as `--json` and the HTTP API both hand it out: every instant in ISO 8601 with
    the jurisdiction's offset (+08:00), so a reader sees the clock the deadlines were counted
    on and both give the same text for the same row. SQLite hands back naive UTC instants."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.astimezone(_zone()).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


@cache
def _zone() -> ZoneInfo:
    # The common profile's zone: every jurisdiction govshare serves counts its days there.
    from processors.profiles import load_all
    return ZoneInfo(load_all().baseline.timezone)
