"""The only code that knows bytes: payloads, CloudEvents headers and stored envelope records.

On Kafka an event travels in CloudEvents binary mode: the envelope's attributes are ``ce_*``
headers and the message value is the payload in Avro single-object encoding. The contract an
integrator follows (which headers, which may be left out and what they then default to) is
generated from this module and the registry into contract/asyncapi.json (events/contract.py).
"""
from __future__ import annotations

import base64
import io
import struct
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import fastavro

from events import schemas, stored
from events.bounds import AVRO_INT_MAX, AVRO_LONG_MAX, nulls
from events.envelope import Actor, Envelope, Role
from events.errors import DecodeError, PayloadMismatch, UnknownEventType
from events.records import avro_builder, from_plain, instant, shown, to_avro
from events.registry import EventKind, ce_type, kind_by_schema, kind_for, kind_of, kind_of_ce_type

MAGIC = b"\xc3\x01"
CONTENT_TYPE = "application/avro"
SPEC_VERSION = "1.0"
# A CloudEvents id that is not a UUID becomes the event id uuid5(EVENT_ID_NAMESPACE,
# "<ce_source> <ce_id>"): the spec makes source and id together unique, and a retry with the
# same pair maps to the same event. Fixed forever: changing it would change stored ids.
EVENT_ID_NAMESPACE = uuid.UUID("5b0f7a4e-2d4b-5c1e-9a59-6f7e0c6d1a10")


@dataclass(frozen=True, slots=True)
class Event:
    """An envelope with its decoded payload: what processors and projections work on."""
    envelope: Envelope
    payload: Any


def encode_payload(payload: Any) -> bytes:
    kind = kind_for(payload)
    schema = schemas.current(kind.schema_name)
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(struct.pack("<Q", schemas.current_fingerprint(kind.schema_name)))
    try:
        fastavro.schemaless_writer(out, schema, to_avro(payload))
    # OverflowError: a whole number past an Avro long.
    except (ValueError, TypeError, KeyError, OverflowError) as exc:
        raise PayloadMismatch(f"{kind.event_type}: {exc}") from exc
    return out.getvalue()


def decode_payload(data: bytes, expected: EventKind | None = None) -> Any:
    return _decode_payload(data, expected)[0]


def _decode_payload(data: bytes, expected: EventKind | None) -> tuple[Any, schemas.Writer]:
    """The payload and the released schema it was written with."""
    if len(data) < 10 or data[:2] != MAGIC:
        raise DecodeError("value is not Avro single-object encoded (no C3 01 marker)")
    (fp,) = struct.unpack("<Q", data[2:10])
    try:
        writer = schemas.writer_schemas()[fp]
    except KeyError:
        raise DecodeError(f"unknown writer schema fingerprint {fp:016x}") from None
    name = writer.name
    if expected is not None and name != expected.schema_name:
        raise DecodeError(f"payload schema {name} does not match event type {expected.event_type}")
    try:
        kind = expected or kind_by_schema(name)
    except UnknownEventType as exc:
        raise DecodeError(str(exc)) from None
    reader = schemas.current(name)
    try:
        # Written with the current schema (the usual case), there is nothing to resolve.
        record = fastavro.schemaless_reader(io.BytesIO(data[10:]), writer.schema,
                                            None if writer.fingerprint == schemas.current_fingerprint(name) else reader)
    except Exception as exc:  # fastavro raises many kinds on truncated or foreign bytes
        raise DecodeError(f"payload does not decode as {name}: {exc}") from exc
    try:
        return avro_builder(kind.cls)(record), writer
    except (ValueError, TypeError, KeyError) as exc:
        raise DecodeError(f"payload does not fit {kind.event_type}: {exc}") from exc


def payload_from_json(event_type: str, data: Any) -> Any:
    """A publisher's JSON payload as an event, checked against its Avro schema."""
    kind = kind_of(event_type)
    if data is None:  # read as no payload at all (from_plain passes null through)
        raise PayloadMismatch("payload: expected an object, got null ({} where the type has no fields)")
    payload = from_plain(kind.cls, data)
    unset = list(nulls(payload))
    if unset:
        raise PayloadMismatch("; ".join(f"{where}: expected a value, got null" for where in unset[:5]))
    encode_payload(payload)  # the schema is the final judge of shape
    return payload


def event_identity(ce_id: str, source: str) -> tuple[uuid.UUID, str | None]:
    """The event id a CloudEvents id stands for, and the id to keep beside it when it is not
    itself a UUID (the spec allows any string)."""
    try:
        return uuid.UUID(ce_id), None
    except ValueError:
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{source} {ce_id}"), ce_id


def dataschema(kind: EventKind) -> str:
    """The CloudEvents dataschema of a kind: names contract/schemas/<schema>.v<version>.avsc."""
    return f"urn:govshare:schema:{kind.schema_name}:v{kind.version}"


def iso_utc(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _header_time(h: dict[str, str], name: str) -> datetime:
    try:
        return instant(h[name])
    except ValueError as exc:
        raise DecodeError(f"header {name} is not a time govshare can keep: {exc}") from None


def _header_int(h: dict[str, str], name: str, maximum: int) -> int:
    """A whole number header that fits the Avro field the stored envelope keeps it in (whether
    it is the right number is for the validator's rules to say)."""
    try:
        value = int(h[name])
    except ValueError:
        raise DecodeError(f"header {name} is not a whole number: {shown(h[name])}") from None
    if not -maximum - 1 <= value <= maximum:
        raise DecodeError(f"header {name} is {shown(value)}; at most {maximum} in magnitude")
    return value


def to_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """What govshare writes: every attribute, derived ones included, so that a consumer reads
    each message alone."""
    kind = kind_of(envelope.event_type)
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": envelope.cloudevent_id or str(envelope.event_id),
        "ce_type": ce_type(kind),
        "ce_source": envelope.source,
        "ce_subject": envelope.aggregate_id,
        "ce_time": iso_utc(envelope.occurred_at),
        "ce_dataschema": dataschema(kind),
        "content-type": CONTENT_TYPE,
        "ce_govschemaversion": str(envelope.schema_version),
        "ce_govaggregatetype": envelope.aggregate_type,
        "ce_govsequence": str(envelope.sequence),
        "ce_govactordepartment": envelope.actor.department,
        "ce_govactorperson": envelope.actor.person,
        "ce_govactorrole": envelope.actor.role.value,
        "ce_correlationid": str(envelope.correlation_id),
    }
    if envelope.policy_id:
        headers["ce_govpolicy"] = envelope.policy_id
    if envelope.causation_id is not None:
        headers["ce_causationid"] = str(envelope.causation_id)
    if envelope.recorded_at is not None:
        headers["ce_govrecordedat"] = iso_utc(envelope.recorded_at)
    if envelope.provider is not None:
        headers["ce_govprovider"] = envelope.provider
    if envelope.route is not None:
        headers["ce_govroute"] = envelope.route
    if envelope.signature is not None:
        headers["ce_govsignature"] = base64.b64encode(envelope.signature).decode("ascii")
    if envelope.signing_key is not None:
        headers["ce_govkeyid"] = envelope.signing_key
    return [(k, v.encode("utf-8")) for k, v in headers.items()]


# What a publisher must send: the CloudEvents context attributes govshare cannot do without,
# and who acts, in which position of the aggregate's history (an optimistic concurrency check:
# a publisher states the history it acted on). Everything else has a default (OPTIONAL_HEADERS).
REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_subject", "ce_time", "ce_govsequence",
                    "ce_govactordepartment", "ce_govactorperson", "ce_govactorrole")
OPTIONAL_HEADERS = {
    "ce_specversion": "1.0 (the only version)",
    "content-type": "application/avro (the only content type)",
    "ce_dataschema": "follows from the payload's fingerprint",
    "ce_govschemaversion": "follows from the payload's fingerprint",
    "ce_govaggregatetype": "follows from the event type",
    "ce_govpolicy": "the policy of the acting department's jurisdiction",
    "ce_correlationid": "the event id: the event starts a process of its own",
    "ce_causationid": "none",
    # Optional to decode, required by the rules: an unsigned submission is refused with
    # submission-unsigned (events/signing.py says what is signed).
    "ce_govsignature": "none: the submission is refused (rule submission-unsigned)",
    "ce_govkeyid": "none: the submission is refused (rule submission-unsigned)",
}


def from_headers(raw: list[tuple[str, bytes]] | None) -> Envelope:
    """The envelope the headers describe; `schema_version` is the kind's current one until the
    payload's fingerprint says which it is (decode_message)."""
    try:
        h = {k: v.decode("utf-8") for k, v in (raw or []) if v is not None}
    except UnicodeDecodeError as exc:
        raise DecodeError(f"a header is not UTF-8: {exc}") from exc
    missing = [k for k in REQUIRED_HEADERS if k not in h]
    if missing:
        raise DecodeError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if h.get("ce_specversion", SPEC_VERSION) != SPEC_VERSION:
        raise DecodeError(f"ce_specversion {shown(h['ce_specversion'])} is not {SPEC_VERSION}")
    try:
        kind = kind_of_ce_type(h["ce_type"])
    except UnknownEventType as exc:
        raise DecodeError(str(exc)) from None
    try:
        event_id, cloudevent_id = event_identity(h["ce_id"], h["ce_source"])
        return Envelope(
            event_id=event_id,
            cloudevent_id=cloudevent_id,
            event_type=kind.event_type,
            schema_version=_header_int(h, "ce_govschemaversion", AVRO_INT_MAX)
            if "ce_govschemaversion" in h else kind.version,
            aggregate_type=h.get("ce_govaggregatetype", kind.aggregate_type),
            aggregate_id=h["ce_subject"],
            sequence=_header_int(h, "ce_govsequence", AVRO_LONG_MAX),
            occurred_at=_header_time(h, "ce_time"),
            recorded_at=_header_time(h, "ce_govrecordedat") if "ce_govrecordedat" in h else None,
            actor=Actor(department=h["ce_govactordepartment"], person=h["ce_govactorperson"],
                        role=Role(h["ce_govactorrole"])),
            policy_id=h.get("ce_govpolicy", ""),
            correlation_id=uuid.UUID(h["ce_correlationid"]) if "ce_correlationid" in h else event_id,
            causation_id=uuid.UUID(h["ce_causationid"]) if "ce_causationid" in h else None,
            source=h["ce_source"],
            provider=h.get("ce_govprovider"),
            route=h.get("ce_govroute"),
            signature=_header_signature(h),
            signing_key=h.get("ce_govkeyid"),
        )
    except ValueError as exc:
        raise DecodeError(f"malformed CloudEvents header: {exc}") from exc


def _header_signature(h: dict[str, str]) -> bytes | None:
    if "ce_govsignature" not in h:
        return None
    try:
        return base64.b64decode(h["ce_govsignature"], validate=True)
    except ValueError:
        raise DecodeError(f"header ce_govsignature is not base64: {shown(h['ce_govsignature'])}") from None


def decode_message(headers: list[tuple[str, bytes]] | None, value: bytes | None) -> Event:
    envelope, kind = decode_envelope(headers)
    payload, writer = _decode_payload(value or b"", kind)
    if writer.version != envelope.schema_version:  # the fingerprint, not a header, says which
        envelope = replace(envelope, schema_version=writer.version)
    return Event(envelope, payload)


def decode_envelope(headers: list[tuple[str, bytes]] | None) -> tuple[Envelope, EventKind]:
    """The envelope of a message and its event kind, without decoding the payload: all the
    notary needs to seal a record."""
    envelope = from_headers(headers)
    kind = kind_of(envelope.event_type)
    if envelope.aggregate_type != kind.aggregate_type:
        raise DecodeError(f"{envelope.event_type} belongs to aggregate {kind.aggregate_type}, "
                          f"not {envelope.aggregate_type}")
    return envelope, kind


def encode_record(envelope: Envelope, payload_bytes: bytes) -> bytes:
    """The envelope in its stored form (schemas/govshare.Envelope.avsc), payload included."""
    try:
        return stored.envelope_record(envelope, payload_bytes)
    except (stored.Unusual, KeyError):
        pass  # a value the direct writer does not expect: fastavro writes it
    out = io.BytesIO()
    # Spelled out rather than walked by to_avro.
    e = envelope
    record = {"event_id": e.event_id, "event_type": e.event_type, "schema_version": e.schema_version,
              "aggregate_type": e.aggregate_type, "aggregate_id": e.aggregate_id, "sequence": e.sequence,
              "occurred_at": e.occurred_at, "recorded_at": e.recorded_at,
              "actor": {"department": e.actor.department, "person": e.actor.person, "role": e.actor.role.value},
              "policy_id": e.policy_id, "correlation_id": e.correlation_id, "causation_id": e.causation_id,
              "source": e.source, "payload": payload_bytes, "provider": e.provider, "route": e.route,
              "cloudevent_id": e.cloudevent_id, "signature": e.signature, "signing_key": e.signing_key}
    fastavro.schemaless_writer(out, schemas.current("govshare.Envelope"), record)
    return out.getvalue()


def decode_record(data: bytes) -> tuple[Envelope, bytes]:
    """A stored envelope record. Records stored before the envelope gained fields (at its end)
    run out of bytes under the current schema and are read with the one they were written with."""
    current = schemas.current("govshare.Envelope")
    try:
        record = _read_whole(data, current, None)
    except (EOFError, ValueError, IndexError, StopIteration):
        record = _read_released(data, current)
    payload = record.pop("payload")
    return avro_builder(Envelope)(record), payload


# Earlier envelope versions, newest first: each added fields at its end (v2 provider and route,
# v3 cloudevent_id, v4 signature and signing_key), so an older record runs out of bytes under
# a newer schema.
_ENVELOPE_RELEASES = (3, 2, 1)


def _read_released(data: bytes, current: Any) -> dict:
    """A record stored under an earlier envelope version."""
    *newer, oldest = _ENVELOPE_RELEASES
    for version in newer:
        try:
            return _read_whole(data, schemas.released("govshare.Envelope", version), current)
        except (EOFError, ValueError, IndexError, StopIteration):
            pass
    return _read_whole(data, schemas.released("govshare.Envelope", oldest), current)


def _read_whole(data: bytes, writer: Any, reader: Any) -> dict:
    stream = io.BytesIO(data)
    record = fastavro.schemaless_reader(stream, writer, reader)
    if stream.tell() != len(data):
        raise ValueError("bytes left after the record")
    return record


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Bytes that could not be decoded, with why and where from (schemas/govshare.DeadLetter.avsc)."""
    id: str
    source: str
    reason: str
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """A dead letter's stored form: the bytes the audit trail hashes for it."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schemas.current("govshare.DeadLetter"), {
        "id": letter.id, "source": letter.source, "reason": letter.reason, "value": letter.value,
        "headers": [{"name": k, "value": v} for k, v in letter.headers]})
    return out.getvalue()


def decode_dead_letter(data: bytes) -> DeadLetter:
    """A stored dead letter, read back from the bytes the trail hashed."""
    r = _read_whole(data, schemas.current("govshare.DeadLetter"), None)
    return DeadLetter(id=r["id"], source=r["source"], reason=r["reason"], value=r["value"],
                      headers=tuple((h["name"], h["value"]) for h in r["headers"]))

