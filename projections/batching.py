"""Set-based projection writes: the inserts of a batch gathered per table and written with one
statement each, while every other statement still runs in order.

Projection handlers write through this as they would through a connection. A plain INSERT of
one row is held; any other statement (an UPDATE, a SELECT, an insert of another shape) first
writes what is held, so a handler always reads and changes rows as if each insert had run at
once. Most events are records of one kind (accesses, about nine in ten), so a batch of them
becomes one executemany instead of one round trip per event.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert


class Batching:
    def __init__(self, tx: Connection):
        self.tx = tx
        self.held: dict[tuple[Any, tuple[str, ...]], list[dict]] = {}

    def execute(self, statement, parameters: Any = None):
        if isinstance(statement, Insert) and isinstance(parameters, dict) and _plain(statement):
            key = (statement.table, tuple(parameters))
            self.held.setdefault(key, []).append(parameters)
            return None
        self.flush()
        return self.tx.execute(statement, parameters)

    def scalar(self, statement, parameters: Any = None):
        self.flush()
        return self.tx.scalar(statement, parameters)

    def scalars(self, statement, parameters: Any = None):
        self.flush()
        return self.tx.scalars(statement, parameters)

    def flush(self) -> None:
        held, self.held = self.held, {}
        for (table, _), rows in held.items():
            self.tx.execute(table.insert(), rows)


def _plain(statement: Insert) -> bool:
    """An INSERT of the values given, returning nothing: safe to hold back and write together."""
    return statement._returning == () and statement._values is None and statement.select is None
