"""What an accepted event may hold, so that it always fits every table on SQLite and PostgreSQL
and every message fits the broker: identifiers and names up to 100 characters, titles 500,
free text 20,000, no NUL or other control characters (PostgreSQL text refuses NUL), dates and
times within the years 1900 to 2199, and a payload of at most 256 KiB (the broker takes 1 MB
messages; the stored record adds the envelope).

The validator rejects what breaks these with the rule `value-out-of-bounds` or
`message-too-large`; they are part of the integrator's contract.
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
    hints = typing.get_type_hints(kind)
    plan = []
    for f in dataclasses.fields(kind):
        t = _unoptional(hints[f.name])
        many = typing.get_origin(t) in (list, tuple)
        item = typing.get_args(t)[0] if many else t
        if item is str:
            plan.append((f.name, "strs" if many else "str"))
        elif item in (date, datetime) and not many:
            plan.append((f.name, "time"))
        elif isinstance(item, type) and dataclasses.is_dataclass(item):
            plan.append((f.name, "records" if many else "record"))
    return tuple(plan)


def _unoptional(t: Any) -> Any:
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        return args[0] if len(args) == 1 else t
    return t
