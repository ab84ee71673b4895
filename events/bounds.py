"""What an accepted event may hold, so that it always fits every table on SQLite and PostgreSQL
and every message fits the broker: identifiers and names up to 100 characters, titles 500,
free text 20,000, no NUL or other control characters (PostgreSQL text refuses NUL), dates and
times within the years 1900 to 2199, and a payload of at most 256 KiB (the broker takes 1 MB
messages; the stored record adds the envelope).

The validator rejects what breaks these with the rule `value-out-of-bounds` or
`message-too-large`, before any of it reaches a database; they are part of the integrator's
contract. `nulls` names what a publisher's JSON left null where a value is required.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from datetime import date, datetime
from functools import cache
from typing import Any, Iterator

PAYLOAD_MAX_BYTES = 256 * 1024
SHORT_MAX = 100  # identifiers, department and person ids, codes, names: the narrowest column
TITLE_MAX = 500
SOURCE_MAX = 255
TEXT_MAX = 20_000

# Fields of free text: reasons, notes, descriptions, purposes.
FREE_TEXT = frozenset({
    "description", "reason", "reasons", "note", "comment", "purpose", "scenario", "business_process",
    "expected", "share_conditions", "usage_requirements", "usage_scope", "message", "reference",
    "title_of_law", "restriction_reason",
})
LIMITS = {"title": TITLE_MAX, "source": SOURCE_MAX}
# Dates a government record can hold, with centuries to spare: deadline arithmetic (working
# days, a validity period) on a date near year 1 or 9999 would run off the calendar.
YEARS = range(1900, 2200)

# Whole numbers the stored envelope keeps in an Avro int (schema_version) or long (sequence).
AVRO_INT_MAX = 2**31 - 1
AVRO_LONG_MAX = 2**63 - 1

# C0 controls but tab, newline and carriage return, DEL and the C1 controls (a terminal reads
# U+009B as an escape): never part of a name or a text.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def problems(value: Any, path: str = "payload") -> Iterator[str]:
    """What is out of bounds in an event's payload or envelope, field by field."""
    for name, shape in _plan(type(value)):
        inner = getattr(value, name)
        if inner is None:
            continue
        where = f"{path}.{name}"
        if shape == "str":
            yield from _check(inner, where, _limit(name))
        elif shape == "strs":
            for i, text in enumerate(inner):
                yield from _check(text, f"{where}[{i}]", _limit(name))
        elif shape == "time":
            if inner.year not in YEARS:
                yield f"{where} is {inner.isoformat()}; dates run from {YEARS[0]} to {YEARS[-1]}"
        elif shape == "record":
            yield from problems(inner, where)
        else:
            for i, item in enumerate(inner):
                yield from problems(item, f"{where}[{i}]")


def printable(text: str, limit: int = SHORT_MAX) -> str:
    """Text as a refusal keeps what it refused: cut to `limit`, each unprintable character
    replaced (U+FFFD), so that the record of a refusal fits every table whatever it refused."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text[:limit])


def nulls(value: Any, path: str = "payload") -> Iterator[str]:
    """Where a record holds null though its field requires a value. Only a publisher's JSON can
    say null there (Avro and the headers cannot), and the schema's encoder would refuse it
    without naming the field: each is named by its path instead."""
    for name, optional, many, item in _fields(type(value)):
        inner = getattr(value, name)
        where = f"{path}.{name}"
        if inner is None:
            if not optional:
                yield where
        elif not many:
            if _is_record(item):
                yield from nulls(inner, where)
        else:
            for i, each in enumerate(inner):
                if each is None:
                    yield f"{where}[{i}]"
                elif _is_record(item):
                    yield from nulls(each, f"{where}[{i}]")


def _limit(name: str) -> int:
    return TEXT_MAX if name in FREE_TEXT else LIMITS.get(name, SHORT_MAX)


def _check(text: str, where: str, limit: int) -> Iterator[str]:
    if len(text) > limit:
        yield f"{where} has {len(text)} characters; at most {limit}"
    if _CONTROL.search(text):
        yield f"{where} holds a control character (NUL or another)"


@cache
def _plan(kind: type) -> tuple[tuple[str, str], ...]:
    """Which fields of a dataclass hold text, a date or time, or records that may: worked out
    once per class."""
    plan = []
    for name, _, many, item in _fields(kind):
        if item is str:
            plan.append((name, "strs" if many else "str"))
        elif item in (date, datetime) and not many:
            plan.append((name, "time"))
        elif _is_record(item):
            plan.append((name, "records" if many else "record"))
    return tuple(plan)


@cache
def _fields(kind: type) -> tuple[tuple[str, bool, bool, Any], ...]:
    """Each field of a dataclass: its name, whether it may be null, whether it holds a list, and
    the type of what it holds."""
    hints = typing.get_type_hints(kind)
    found = []
    for f in dataclasses.fields(kind):
        t = _unoptional(hints[f.name])
        many = typing.get_origin(t) in (list, tuple)
        found.append((f.name, t is not hints[f.name], many, typing.get_args(t)[0] if many else t))
    return tuple(found)


def _is_record(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def _unoptional(t: Any) -> Any:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0] if len(args) == 1 else t
    return t
