"""Avro schemas: the current ones under schemas/, and every released writer schema by fingerprint.

A consumer never guesses a writer schema: each payload carries the CRC-64-AVRO fingerprint of
the schema it was written with (Avro single-object encoding), and ``schemas/history/`` keeps
every schema version ever released (fully resolved, logical types included), so old events
stay readable.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Iterable

import fastavro
from fastavro.schema import load_schema, to_parsing_canonical_form

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
HISTORY_DIR = SCHEMA_DIR / "history"

_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return table


_TABLE = _crc64_table()


# The attributes a parsing canonical form keeps, in the spec's order ([STRIP], [ORDER]).
_CANONICAL_KEYS = ("name", "type", "fields", "symbols", "items", "values", "size")
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_COMPLEX = frozenset({"record", "error", "enum", "fixed", "array", "map"})


def wrapped_canonical(schema: Any) -> str:
    """The parsing canonical form as Apache's Python library (avro) and Go's goavro compute it.

    The spec reduces a logical type such as {"type": "int", "logicalType": "date"} to "int";
    these two libraries keep the object and drop only the annotation, {"type":"int"}, so their
    CRC-64-AVRO fingerprint of a schema with logical types differs from the spec's (AVRO-4004,
    linkedin/goavro#174). The writer fingerprints govshare accepts include this form, so that a
    payload those libraries encode is read with the one schema it was written with.
    `schema`: a fully resolved schema with full names (as the history keeps them)."""
    return _wrapped(schema, set())


def _wrapped(schema: Any, defined: set[str]) -> str:
    if isinstance(schema, str):
        return json.dumps(schema)
    if isinstance(schema, list):
        return "[" + ",".join(_wrapped(branch, defined) for branch in schema) + "]"
    kind = schema["type"]
    if kind in _PRIMITIVES and "logicalType" in schema:
        # The spec writes "int"; these libraries keep the object.
        return "{" + f'"type":{json.dumps(kind)}' + "}"
    if kind not in _COMPLEX:  # a primitive or a named type in an object of its own
        return _wrapped(kind, defined)
    if "name" in schema:
        if schema["name"] in defined:
            return json.dumps(schema["name"])
        defined.add(schema["name"])
    parts = []
    for key in _CANONICAL_KEYS:
        if key not in schema:
            continue
        value = schema[key]
        if key == "fields":
            text = "[" + ",".join("{" + f'"name":{json.dumps(f["name"])},"type":' + _wrapped(f["type"], defined) + "}"
                                  for f in value) + "]"
        elif key in ("items", "values"):
            text = _wrapped(value, defined)
        else:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        parts.append(f"{json.dumps(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def fingerprint(canonical: str) -> int:
    """CRC-64-AVRO (Rabin) fingerprint of a parsing canonical form, as the Avro spec defines it."""
    fp = _EMPTY
    for byte in canonical.encode("utf-8"):
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


@cache
def current(name: str) -> Any:
    """The parsed current schema for a full name, e.g. govshare.catalog.EntryRegistered."""
    return load_schema(str(SCHEMA_DIR / f"{name}.avsc"))


@cache
def canonical(name: str) -> str:
    return to_parsing_canonical_form(current(name))


@cache
def current_fingerprint(name: str) -> int:
    return fingerprint(canonical(name))


def resolved(name: str) -> str:
    """The current schema with every named type inlined: a release's record in the history."""
    return json.dumps(_plain(current(name)), ensure_ascii=False, indent=1, sort_keys=True)


def _plain(schema: Any) -> Any:
    # fastavro annotates parsed schemas with private keys; the history keeps only Avro's own.
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_plain(v) for v in schema]
    return schema


@dataclass(frozen=True, slots=True)
class Writer:
    """One released schema version: what a fingerprint on the wire stands for."""
    name: str
    version: int
    schema: Any
    fingerprint: int  # the spec's, whichever form the payload came under


@cache
def writer_schemas() -> dict[int, Writer]:
    """Fingerprint -> writer, for every released version, under the spec's fingerprint and
    under the one Apache's Python library and goavro compute (wrapped_canonical)."""
    found: dict[int, Writer] = {}
    for path in sorted(HISTORY_DIR.glob("*.json")):
        plain = json.loads(path.read_text(encoding="utf-8"))
        schema = fastavro.parse_schema(plain)
        spec = fingerprint(to_parsing_canonical_form(schema))
        writer = Writer(schema["name"], int(path.stem.rsplit(".v", 1)[1]), schema, spec)
        found[spec] = writer
        found.setdefault(fingerprint(wrapped_canonical(plain)), writer)
    return found


@cache
def current_version(name: str) -> int:
    """Which released version the current schema is."""
    writer = writer_schemas().get(current_fingerprint(name))
    if writer is None:
        raise LookupError(f"schema {name} changed and is not released: run python -m events.schemas")
    return writer.version


@cache
def released(name: str, version: int) -> Any:
    """One released version of a schema, as the history keeps it."""
    path = HISTORY_DIR / f"{name}.v{version}.json"
    return fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))


def freeze(names: Iterable[str]) -> list[Path]:
    """Record the current version of each of these schemas in the history, where it changed
    (run after a change: `python -m events.registry --freeze`)."""
    known = set(writer_schemas())
    written = []
    for name in names:
        if current_fingerprint(name) in known:
            continue
        n = 1 + len(list(HISTORY_DIR.glob(f"{name}.v*.json")))
        path = HISTORY_DIR / f"{name}.v{n}.json"
        path.write_text(resolved(name) + "\n", encoding="utf-8")
        written.append(path)
    writer_schemas.cache_clear()
    current_version.cache_clear()
    return written
