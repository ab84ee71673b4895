"""Conversion between event dataclasses and plain values (fastavro's, or a publisher's JSON).

The dataclasses' type hints are the one description of their shape, so this module walks
them instead of every event carrying its own to/from code.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
import uuid
from datetime import date, datetime, timezone
from functools import cache
from typing import Any

from events.errors import PayloadMismatch


def to_avro(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: to_avro(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_avro(v) for v in value]
    return value


def to_json(value: Any) -> Any:
    """Like to_avro, but with dates, times and ids as strings (for JSON output)."""
    value = to_avro(value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, (date, datetime, uuid.UUID)):
        return value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(kind: Any, value: Any, path: str = "payload") -> Any:
    """Build ``kind`` from decoded Avro or JSON values, naming the path of what does not fit."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return from_plain(inner, value, path)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise PayloadMismatch(f"{path}: expected a list, got {type(value).__name__}")
        inner = typing.get_args(kind)[0]
        return tuple(from_plain(inner, v, f"{path}[{i}]") for i, v in enumerate(value))
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return _dataclass_from_plain(kind, value, path)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            raise PayloadMismatch(
                f"{path}: {shown(value)} is not one of {', '.join(m.value for m in kind)}") from None
    return _scalar(kind, value, path)


def _dataclass_from_plain(kind: type, value: Any, path: str) -> Any:
    if not isinstance(value, dict):
        raise PayloadMismatch(f"{path}: expected an object, got {type(value).__name__}")
    fields = {f.name: f for f in dataclasses.fields(kind)}
    unknown = set(value) - set(fields)
    if unknown:
        raise PayloadMismatch(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
    missing = [name for name, f in fields.items() if name not in value
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise PayloadMismatch(f"{path}: missing field(s) {', '.join(missing)}")
    hints = _hints(kind)
    return kind(**{name: from_plain(hints[name], v, f"{path}.{name}") for name, v in value.items()})


_SCALARS: dict[Any, tuple[type, ...]] = {str: (str,), int: (int,), bool: (bool,), float: (float, int)}


def _scalar(kind: Any, value: Any, path: str) -> Any:
    try:
        if kind is date and isinstance(value, str):
            return date.fromisoformat(value)
        if kind is datetime and isinstance(value, str):
            return instant(value)
        if kind is uuid.UUID and isinstance(value, str):
            return uuid.UUID(value)
        if kind is str and isinstance(value, str):
            return utf8(value)
    except ValueError as exc:
        raise PayloadMismatch(f"{path}: {exc}") from None
    accepted = _SCALARS.get(kind, (kind,) if isinstance(kind, type) else ())
    if accepted and (not isinstance(value, accepted) or (kind is int and isinstance(value, bool))):
        raise PayloadMismatch(f"{path}: expected {getattr(kind, '__name__', kind)}, got {shown(value)}")
    return value


def instant(text: str) -> datetime:
    """An ISO 8601 time as an aware datetime (one without an offset is taken as UTC).

    Raises ValueError unless it also exists in UTC: 0001-01-01T00:00:00+05:00 parses, but every
    encoder (Avro, the ce_time header) works in UTC, where it would fall in year 0."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        parsed.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"{shown(text)} falls outside years 1 to 9999 in UTC") from None
    return parsed


def utf8(text: str) -> str:
    """The text, if UTF-8 can carry it: JSON's \\ud800 escapes decode to a lone surrogate, which
    no encoder (Avro, Kafka headers, the databases) can write."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"holds {text[exc.start]!r} at position {exc.start}, a lone surrogate "
                         "that UTF-8 cannot carry") from None
    return text


# How much of a wrong value an error message quotes: enough to recognise it, never a whole
# megabyte or a 5,000-deep list (whose repr would itself overflow the stack).
_SHOWN_CHARS = 60


def shown(value: Any) -> str:
    """A wrong value as an error message quotes it."""
    if isinstance(value, (dict, list, tuple)):
        return f"a {'list' if isinstance(value, (list, tuple)) else 'JSON object'}"
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


def avro_builder(kind: Any):
    """A function building `kind` from a record fastavro decoded against its current schema (or
    from a state this code wrote itself, whose scalars are already of the right type).

    fastavro already yields the right scalar types (str, int, datetime, UUID, ...), so unlike
    from_plain nothing is checked: enums, tuples and nested records are converted by a
    function put together once per class instead of a walk of its type hints per event (the
    profile put that walk at about 75 µs per event)."""
    return _builder(kind)


@cache
def _builder(kind: Any):
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        build = _builder(inner)
        if build is None:
            return None
        return lambda v: None if v is None else build(v)
    if origin in (list, tuple):
        build = _builder(typing.get_args(kind)[0])
        if build is None:
            return tuple
        return lambda v: tuple(build(x) for x in v)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        fields = [(f.name, _builder(hints[f.name])) for f in dataclasses.fields(kind)]
        plain = [name for name, build in fields if build is None]
        converted = [(name, build) for name, build in fields if build is not None]

        def build_record(v: dict) -> Any:
            # A field missing from a state an older release wrote takes its default.
            args = {name: v[name] for name in plain if name in v}
            for name, build in converted:
                if name in v:
                    args[name] = build(v[name])
            return kind(**args)
        return build_record
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind
    return None  # a scalar fastavro already gives in the right type
