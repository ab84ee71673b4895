"""Which event types exist: each event class registers its type name, schema and aggregate by hand.

Names are written out rather than taken from ``__name__`` so that renaming a class can never
silently change what is on the wire.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from events.envelope import Role
from events.errors import UnknownEventType


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


def kind_of(name: str) -> EventKind:
    _load_all()
    try:
        return _KINDS[name]
    except KeyError:
        raise UnknownEventType(f"unknown event type {name!r}; known: {', '.join(sorted(_KINDS))}") from None


# The ce_type of the first releases: govshare.<EventType>. Still accepted on input, for events
# already released in that form; govshare now writes the payload schema's full name.
LEGACY_TYPE_PREFIX = "govshare."


def ce_type(kind: EventKind) -> str:
    """The CloudEvents type of an event kind: its payload schema's full name."""
    return kind.schema_name


def ce_types(kind: EventKind) -> tuple[str, str]:
    """Every ce_type a message of this kind may carry: the current form and the legacy one."""
    return kind.schema_name, LEGACY_TYPE_PREFIX + kind.event_type


def kind_of_ce_type(value: str) -> EventKind:
    """The kind a ce_type names, in either form."""
    _load_all()
    if not _BY_CE_TYPE:
        _BY_CE_TYPE.update({t: k for k in _KINDS.values() for t in ce_types(k)})
    try:
        return _BY_CE_TYPE[value]
    except KeyError:
        raise UnknownEventType(f"unknown event type {value!r}; a ce_type is a payload schema's full "
                               f"name, e.g. govshare.catalog.EntryRegistered") from None


_BY_CE_TYPE: dict[str, EventKind] = {}


def kind_by_schema(name: str) -> EventKind:
    _load_all()
    for kind in _KINDS.values():
        if kind.schema_name == name:
            return kind
    raise UnknownEventType(f"no event type is written with schema {name}")


def kind_for(payload: object) -> EventKind:
    return kind_for_class(type(payload))


def kind_for_class(cls: type) -> EventKind:
    _load_all()
    try:
        return _BY_CLASS[cls]
    except KeyError:
        raise UnknownEventType(f"{cls.__name__} is no registered event class") from None


def ce_types_of(classes: tuple[type, ...]) -> set[str]:
    """Every ce_type the messages of these payload classes may carry."""
    _load_all()
    return {t for c in classes for t in ce_types(_BY_CLASS[c])}


def classes_of(*aggregates: str) -> tuple[type, ...]:
    """The event classes of these aggregates, in registration order."""
    _load_all()
    return tuple(k.cls for k in _KINDS.values() if k.aggregate_type in aggregates)


def all_kinds() -> list[EventKind]:
    _load_all()
    return list(_KINDS.values())


def _load_all() -> None:
    # Importing the modules runs their @event_type decorators.
    import events.catalog  # noqa: F401
    import events.deadline  # noqa: F401
    import events.directory  # noqa: F401
    import events.objection  # noqa: F401
    import events.rejection  # noqa: F401
    import events.sharing  # noqa: F401
    import events.trail  # noqa: F401
