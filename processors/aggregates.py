"""Aggregate states for one batch of decisions: read together up front, written together at
the end, inside the batch's transaction.

The profile of the validator showed most of its time in SQL round trips, about seven per event
(load, delete, insert, savepoint, ...). Here a batch costs one query per aggregate type to read
and two statements per type to write. Each event's changes stay pending until its decision
stands, so a rejected or failed event leaves no trace, as a savepoint would have ensured.
"""
from __future__ import annotations

import json
from collections import defaultdict
from typing import Any, Iterable

from sqlalchemy import Connection, delete, insert, select

from events.records import avro_builder, to_json
from processors import store

Key = tuple[str, str]  # aggregate type, aggregate id


def state_text(state: Any) -> str:
    return json.dumps(to_json(state))


def state_of(kind: type, text: str) -> Any:
    # States are written by this module only: built by a function made once per class, not by
    # a checked walk of the type hints.
    return json.loads(text) if kind is dict else avro_builder(kind)(json.loads(text))


class AggregateStates:
    def __init__(self, tx: Connection):
        self.tx = tx
        self.stored: dict[Key, str | None] = {}
        self.changed: dict[Key, Any] = {}
        self.pending: dict[Key, Any] = {}

    def prefetch(self, keys: Iterable[Key]) -> None:
        by_type: dict[str, set[str]] = defaultdict(set)
        for aggregate_type, aggregate_id in keys:
            if (aggregate_type, aggregate_id) not in self.stored:
                by_type[aggregate_type].add(aggregate_id)
        for aggregate_type, ids in by_type.items():
            for aggregate_id in ids:
                self.stored[(aggregate_type, aggregate_id)] = None
            rows = self.tx.execute(select(store.aggregates.c.aggregate_id, store.aggregates.c.state).where(
                store.aggregates.c.aggregate_type == aggregate_type,
                store.aggregates.c.aggregate_id.in_(sorted(ids))))
            for aggregate_id, state in rows:
                self.stored[(aggregate_type, aggregate_id)] = state

    def get(self, kind: type, aggregate_type: str, aggregate_id: str) -> Any:
        key = (aggregate_type, aggregate_id)
        for layer in (self.pending, self.changed):
            if key in layer:
                return layer[key]
        if key not in self.stored:
            self.prefetch([key])
        text = self.stored[key]
        if text is None:
            return None
        return state_of(kind, text)

    def put(self, aggregate_type: str, aggregate_id: str, state: Any) -> None:
        self.pending[(aggregate_type, aggregate_id)] = state

    def keep(self) -> None:
        """The event's decision stands: its changes join the batch's."""
        self.changed.update(self.pending)
        self.pending.clear()

    def drop(self) -> None:
        self.pending.clear()

    def flush(self) -> None:
        by_type: dict[str, list[str]] = defaultdict(list)
        for aggregate_type, aggregate_id in self.changed:
            by_type[aggregate_type].append(aggregate_id)
        for aggregate_type, ids in by_type.items():
            self.tx.execute(delete(store.aggregates).where(
                store.aggregates.c.aggregate_type == aggregate_type,
                store.aggregates.c.aggregate_id.in_(ids)))
        if self.changed:
            self.tx.execute(insert(store.aggregates), [
                dict(aggregate_type=t, aggregate_id=i, state=state_text(s))
                for (t, i), s in self.changed.items()])
        self.changed.clear()
