"""Avro schemas: the current ones under schemas/, and every released writer schema by fingerprint.

A consumer never guesses a writer schema: each payload carries the CRC-64-AVRO fingerprint of
the schema it was written with (Avro single-object encoding), and ``schemas/history/`` keeps
every schema version ever released (fully resolved, logical types included), so old events
stay readable.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

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


@cache
def writer_schemas() -> dict[int, tuple[str, Any]]:
    """Fingerprint -> (schema name, parsed writer schema) for every released version."""
    found: dict[int, tuple[str, Any]] = {}
    for path in sorted(HISTORY_DIR.glob("*.json")):
        schema = fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))
        found[fingerprint(to_parsing_canonical_form(schema))] = (schema["name"], schema)
    return found


@cache
def released(name: str, version: int) -> Any:
    """One released version of a schema, as the history keeps it."""
    path = HISTORY_DIR / f"{name}.v{version}.json"
    return fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))


def freeze() -> list[Path]:
    """Record the current version of every event schema in the history (run after a change)."""
    from events.registry import all_kinds

    known = set(writer_schemas())
    written = []
    for kind in all_kinds():
        if fingerprint(canonical(kind.schema_name)) in known:
            continue
        n = 1 + len(list(HISTORY_DIR.glob(f"{kind.schema_name}.v*.json")))
        path = HISTORY_DIR / f"{kind.schema_name}.v{n}.json"
        path.write_text(resolved(kind.schema_name) + "\n", encoding="utf-8")
        written.append(path)
    writer_schemas.cache_clear()
    return written


if __name__ == "__main__":
    for written in freeze():
        print(f"recorded {written.name}")
