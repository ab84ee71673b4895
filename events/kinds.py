"""Declaring an event type: each event class registers its type name, schema, aggregate and
senders by hand with `@event_type`. Names are written out rather than taken from `__name__`, so
that renaming a class can never silently change what is on the wire. The lookups are
events/registry.py's, which loads every event module."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from events.envelope import Role


@dataclass(frozen=True, slots=True)
class EventKind:
    event_type: str
    schema_name: str
    aggregate_type: str
    cls: type
    # The roles that may publish it: the first gate of who may act (the rules then say which
    # department of that role). None for what only govshare's stages emit.
    senders: tuple[Role, ...] = ()

    @property
    def version(self) -> int:
        """The released version of the current schema: kept in schemas/history/ alone, so a
        schema change cannot leave a stale version number behind."""
        from events import schemas
        return schemas.current_version(self.schema_name)


_KINDS: dict[str, EventKind] = {}
_BY_CLASS: dict[type, EventKind] = {}


def event_type(name: str, *, schema: str, aggregate: str,
               senders: tuple[Role, ...] = ()) -> Callable[[type], type]:
    def register(cls: type) -> type:
        if name in _KINDS:
            raise ValueError(f"event type {name} registered twice")
        kind = EventKind(name, schema, aggregate, cls, senders)
        _KINDS[name] = kind
        _BY_CLASS[cls] = kind
        return cls
    return register


class Ending:
    """A kind of event after which its subject waits on nobody any more (an entry taken down, a
    request withdrawn): the limits still running on the subject end with it. A stage that acts
    on every such event handles this class, and so each event class derived from it."""
    __slots__ = ()
