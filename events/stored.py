"""The stored envelope (schemas/govshare.Envelope.avsc) written directly, byte for byte as
fastavro's schemaless writer writes it.

The projector and the notary store one for every event they read: fastavro's writer, which
resolves logical types and unions field by field, cost ~19 us an envelope, a quarter of what
the trail record costs. This writer knows the one schema it writes, and is checked against
fastavro's output (tests/test_codec.py): anything it does not expect (a naive time, a value of
another type) it leaves to fastavro, so it is never the one that decides an unusual case.
"""
from __future__ import annotations

import uuid
from functools import cache
from datetime import datetime, timezone
from typing import Callable

from events import schemas
from events.envelope import Envelope, Role

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Unusual(Exception):
    """A value the direct writer leaves to fastavro."""


_LONG = range(-(1 << 63), 1 << 63)
_INT = range(-(1 << 31), 1 << 31)


def _long(n: int) -> bytes:
    """Avro's zig-zag varint (an int and a long are written alike)."""
    n = (n << 1) ^ (n >> 63)
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _number(n: int, within: range) -> bytes:
    if type(n) is not int or n not in within:
        raise Unusual(repr(n)[:40])
    return _long(n)


def _text(s: str) -> bytes:
    if type(s) is not str:
        raise Unusual(type(s).__name__)
    data = s.encode("utf-8")
    return _long(len(data)) + data


# The words most envelopes repeat (types, departments, persons, policies, sources, keys),
# written once; bounded, since a deployment names a few hundred of them, not millions.
_WORDS: dict[str, bytes] = {}


def _word(s: str) -> bytes:
    found = _WORDS.get(s)
    if found is None:
        found = _text(s)
        if len(_WORDS) < 4096:
            _WORDS[s] = found
    return found


def _uuid(u: uuid.UUID | str) -> bytes:
    return _text(str(u) if type(u) is uuid.UUID else u)


def _micros(t: datetime) -> bytes:
    if type(t) is not datetime or t.tzinfo is None:
        raise Unusual("a time without its zone")  # fastavro reads a naive time its own way
    delta = t - _EPOCH
    return _long((delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _optional(value, write: Callable) -> bytes:
    return b"\x00" if value is None else b"\x02" + write(value)


def _bytes(b: bytes) -> bytes:
    if type(b) is not bytes:
        raise Unusual(type(b).__name__)
    return _long(len(b)) + b


@cache
def _roles() -> dict[Role, bytes]:
    """An enum is written as its symbol's place in the schema (schemas/govshare.Role.avsc)."""
    return {Role(name): _long(i) for i, name in enumerate(schemas.current("govshare.Role")["symbols"])}


def envelope_record(e: Envelope, payload: bytes) -> bytes:
    """The stored envelope; raises Unusual for what fastavro is left to write."""
    a = e.actor
    return b"".join((
        _uuid(e.event_id), _word(e.event_type), _number(e.schema_version, _INT), _word(e.aggregate_type),
        _text(e.aggregate_id), _number(e.sequence, _LONG), _micros(e.occurred_at), _optional(e.recorded_at, _micros),
        _word(a.department), _word(a.person), _roles()[a.role],
        _word(e.policy_id), _uuid(e.correlation_id), _optional(e.causation_id, _uuid), _word(e.source),
        _bytes(payload), _optional(e.provider, _word), _optional(e.route, _word),
        _optional(e.cloudevent_id, _text), _optional(e.signature, _bytes), _optional(e.signing_key, _word)))
