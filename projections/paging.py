"""Keyset pages over the projections: a page starts after the sort key of the last row shown,
so page N costs what page 1 costs (an OFFSET would read and drop every row before it).

The cursor is opaque to callers: base64 of the JSON list of the last row's sort values, each
instant kept exactly as the database returned it (SQLite: naive UTC; PostgreSQL: aware), so
compared again it is the same value."""
from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import and_, or_


class BadCursor(ValueError):
    """A cursor this module did not make (or made for another view)."""


def cursor(columns: Sequence, row: dict[str, Any]) -> str:
    values = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in (row[c.name] for c in columns)]
    return base64.urlsafe_b64encode(json.dumps(values, ensure_ascii=False).encode()).decode().rstrip("=")


def _values(text: str, count: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(values, list) or len(values) != count:
            raise ValueError("not this view's")
        return [datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in values]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadCursor(f"not a cursor of this view: {text[:40]!r}") from exc


def after(query, columns: Sequence, text: str | None):
    """`query` narrowed to the rows that sort after the cursor, in `columns` order (each
    ascending; the last one unique, so no two rows share a key)."""
    if not text:
        return query
    values = _values(text, len(columns))
    condition = columns[-1] > values[-1]
    for column, value in zip(reversed(columns[:-1]), reversed(values[:-1])):
        condition = or_(column > value, and_(column == value, condition))
    return query.where(condition)
