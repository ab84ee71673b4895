"""Set-based projection writes: the inserts of a batch gathered per table and written with one
statement each, while every other statement still runs in order.

Projection handlers write through this as they would through a connection. A plain INSERT of
one row is held; any other statement (an UPDATE, a SELECT, an insert of another shape) first
writes what is held of the tables it reads or writes, so a handler always reads and changes
rows as if each insert had run at once. Most events are records of one kind (accesses, about
nine in ten), so a batch of them becomes one executemany instead of one round trip per event,
even while the handlers of the others read the directory or update a request in between (the
projection tables have no foreign keys, so inserts into one table need not precede statements
on another).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Delete, Insert, Select, Update
from sqlalchemy.sql.util import find_tables


class Batching:
    def __init__(self, tx: Connection):
        self.tx = tx
        self.held: dict[tuple[Any, tuple[str, ...]], list[dict]] = {}

    def execute(self, statement, parameters: Any = None):
        if isinstance(statement, Insert) and isinstance(parameters, dict) and _plain(statement):
            key = (statement.table, tuple(parameters))
            self.held.setdefault(key, []).append(parameters)
            return None
        self.flush(statement)
        return self.tx.execute(statement, parameters)

    def scalar(self, statement, parameters: Any = None):
        self.flush(statement)
        return self.tx.scalar(statement, parameters)

    def scalars(self, statement, parameters: Any = None):
        self.flush(statement)
        return self.tx.scalars(statement, parameters)

    def flush(self, before: Any = None) -> None:
        """Write what is held: all of it, or (`before` a statement about to run) what is held of
        the tables that statement reads or writes."""
        if not self.held:
            return
        touched = _tables(before) if before is not None else None
        for key in [k for k in self.held if touched is None or k[0] in touched]:
            self.tx.execute(key[0].insert(), self.held.pop(key))


def _tables(statement: Any) -> set | None:
    """Every table a statement names, in its FROM, its columns, its subqueries and its target;
    None where that cannot be told (text), which writes everything held first."""
    if not isinstance(statement, (Select, Insert, Update, Delete)):
        return None
    return set(find_tables(statement, check_columns=True, include_aliases=True, include_joins=True,
                           include_crud=True))


def _plain(statement: Insert) -> bool:
    """An INSERT of the values given, returning nothing: safe to hold back and write together."""
    return statement._returning == () and statement._values is None and statement.select is None
