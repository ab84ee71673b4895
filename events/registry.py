"""Which event types exist, looked up by name, ce_type, schema or class: every event module,
loaded here, declares its types with events/kinds.py's `@event_type`."""
from __future__ import annotations

from events import (  # noqa: F401
    catalog, checkpoint, conflict, deadline, directory, entrustment, incident, objection, opendata, operations,
    project, rejection, sharing, uncatalogued,
)
from events.errors import UnknownEventType
from events.kinds import _BY_CLASS, _KINDS, EventKind, event_type  # noqa: F401


def kind_of(name: str) -> EventKind:
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
    if not _BY_CE_TYPE:
        _BY_CE_TYPE.update({t: k for k in _KINDS.values() for t in ce_types(k)})
    try:
        return _BY_CE_TYPE[value]
    except KeyError:
        raise UnknownEventType(f"unknown event type {value!r}; a ce_type is a payload schema's full "
                               f"name, e.g. govshare.catalog.EntryRegistered") from None


_BY_CE_TYPE: dict[str, EventKind] = {}


def kind_by_schema(name: str) -> EventKind:
    for kind in _KINDS.values():
        if kind.schema_name == name:
            return kind
    raise UnknownEventType(f"no event type is written with schema {name}")


def kind_for(payload: object) -> EventKind:
    return kind_for_class(type(payload))


def kind_for_class(cls: type) -> EventKind:
    try:
        return _BY_CLASS[cls]
    except KeyError:
        raise UnknownEventType(f"{cls.__name__} is no registered event class") from None


def ce_types_of(classes: tuple[type, ...]) -> set[str]:
    """Every ce_type the messages of these payload classes may carry."""
    return {t for c in classes for t in ce_types(_BY_CLASS[c])}


def classes_of(*aggregates: str) -> tuple[type, ...]:
    """The event classes of these aggregates."""
    return tuple(k.cls for k in all_kinds() if k.aggregate_type in aggregates)


def all_kinds() -> list[EventKind]:
    """Every event kind, by aggregate and name: one order whichever module was imported first."""
    return sorted(_KINDS.values(), key=lambda k: (k.aggregate_type, k.event_type))


if __name__ == "__main__":  # python -m events.registry --freeze: release every changed event schema
    import sys

    from events import schemas
    if sys.argv[1:] != ["--freeze"]:
        raise SystemExit("usage: python -m events.registry --freeze")
    for written in schemas.freeze(k.schema_name for k in all_kinds()):
        print(f"recorded {written.name}")
