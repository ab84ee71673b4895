"""Which event types exist: each event class registers its type name, schema and aggregate by hand.

Names are written out rather than taken from ``__name__`` so that renaming a class can never
silently change what is on the wire.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from events.errors import UnknownEventType


@dataclass(frozen=True, slots=True)
class EventKind:
    event_type: str
    schema_name: str
    aggregate_type: str
    version: int
    cls: type


_KINDS: dict[str, EventKind] = {}
_BY_CLASS: dict[type, EventKind] = {}


def event_type(name: str, *, schema: str, aggregate: str, version: int = 1) -> Callable[[type], type]:
    def register(cls: type) -> type:
        if name in _KINDS:
            raise ValueError(f"event type {name} registered twice")
        kind = EventKind(name, schema, aggregate, version, cls)
        _KINDS[name] = kind
        _BY_CLASS[cls] = kind
        return cls
    return register


def kind_of(name: str) -> EventKind:
    _load_all()
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}; known: {', '.join(sorted(_KINDS))}") from None


def kind_for(payload: object) -> EventKind:
    _load_all()
    return _BY_CLASS[type(payload)]


def type_names(classes: tuple[type, ...]) -> set[str]:
    """The event type names of payload classes, as the ce_type header carries them."""
    _load_all()
    return {_BY_CLASS[c].event_type for c in classes}


def all_kinds() -> list[EventKind]:
    _load_all()
    return list(_KINDS.values())


def _load_all() -> None:
    # Importing the modules runs their @event_type decorators.
    import events.catalog  # noqa: F401
    import events.deadline  # noqa: F401
    import events.objection  # noqa: F401
    import events.rejection  # noqa: F401
    import events.sharing  # noqa: F401
    import events.trail  # noqa: F401
