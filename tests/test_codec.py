"""Events on the wire: Avro single-object encoding, CloudEvents headers, schema evolution."""
from __future__ import annotations

import io
import json
import struct
from datetime import datetime, timezone

import avro.schema as avro
import fastavro
import pytest
from fastavro.read import SchemaResolutionError
from fastavro.schema import to_parsing_canonical_form
from fastavro.utils import generate_many

from events import schemas
from events.codec import (
    decode_message,
    decode_payload,
    decode_record,
    encode_payload,
    encode_record,
    from_headers,
    to_headers,
)
from events.errors import DecodeError, PayloadMismatch, UnknownEventType
from events.registry import all_kinds
from events.submission import SubmissionError, parse_line
from tests.builders import lines, registered

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def sample():
    return parse_line(lines(registered("gd-hrss-001", codes=["A.1", "A.2"]))[0], now=NOW)


def test_an_event_round_trips_through_headers_and_single_object_encoding():
    event = sample()
    value = encode_payload(event.payload)
    assert value[:2] == b"\xc3\x01"
    (fp,) = struct.unpack("<Q", value[2:10])
    assert fp == schemas.fingerprint(schemas.canonical("govshare.catalog.EntryRegistered"))
    decoded = decode_message(to_headers(event.envelope), value)
    assert decoded == event


def test_headers_follow_the_cloudevents_kafka_binding():
    headers = dict(to_headers(sample().envelope))
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"govshare.catalog.EntryRegistered", "the payload schema's full name"
    assert headers["ce_dataschema"] == b"urn:govshare:schema:govshare.catalog.EntryRegistered:v3"
    assert headers["ce_subject"] == b"gd-hrss-001"
    assert headers["content-type"] == b"application/avro"
    assert all(k == "content-type" or k.startswith("ce_") for k in headers)


def test_the_stored_record_keeps_envelope_and_payload():
    event = sample()
    value = encode_payload(event.payload)
    envelope, payload = decode_record(encode_record(event.envelope, value))
    assert envelope == event.envelope and payload == value


def test_the_crc64_fingerprint_matches_the_avro_specification():
    # Test vector from the Avro specification's reference implementation.
    assert schemas.fingerprint('"int"') == 8247732601305521295


@pytest.mark.parametrize("value, reason", [
    (b"not avro at all", "single-object"),
    (b"\xc3\x01" + b"\x00" * 8 + b"x", "unknown writer schema"),
])
def test_bytes_that_are_no_known_encoding_are_refused(value, reason):
    with pytest.raises(DecodeError, match=reason):
        decode_payload(value)


def test_the_first_releases_ce_type_is_still_read():
    event = sample()
    legacy = [(k, b"govshare.EntryRegistered" if k == "ce_type" else v) for k, v in to_headers(event.envelope)]
    assert decode_message(legacy, encode_payload(event.payload)) == event


def test_what_can_be_derived_may_be_left_out():
    """Only the standard attributes, who acts, and the sequence are needed; the rest follows."""
    event = sample()
    optional = {"ce_specversion", "content-type", "ce_dataschema", "ce_govschemaversion",
                "ce_govaggregatetype", "ce_govpolicy", "ce_correlationid"}
    headers = [(k, v) for k, v in to_headers(event.envelope) if k not in optional]
    decoded = decode_message(headers, encode_payload(event.payload)).envelope
    assert decoded.aggregate_type == "catalog-entry" and decoded.schema_version == 3
    assert decoded.policy_id == "" and decoded.correlation_id == decoded.event_id


def test_a_cloudevents_id_need_not_be_a_uuid():
    event = sample()
    headers = [(k, b"order-42/attempt-1" if k == "ce_id" else v) for k, v in to_headers(event.envelope)]
    decoded = decode_message(headers, encode_payload(event.payload))
    again = decode_message(headers, encode_payload(event.payload))
    assert decoded.envelope.cloudevent_id == "order-42/attempt-1"
    assert decoded.envelope.event_id == again.envelope.event_id != event.envelope.event_id
    assert dict(to_headers(decoded.envelope))["ce_id"] == b"order-42/attempt-1", "sent on as given"
    stored, _ = decode_record(encode_record(decoded.envelope, b""))
    assert stored.cloudevent_id == "order-42/attempt-1"


def test_a_record_stored_before_the_envelope_kept_cloudevent_ids_is_read():
    event = sample()
    out = io.BytesIO()
    record = {**{f["name"]: None for f in schemas.released("govshare.Envelope", 2)["fields"]},
              "event_id": event.envelope.event_id, "event_type": "EntryRegistered", "schema_version": 1,
              "aggregate_type": "catalog-entry", "aggregate_id": "gd-hrss-001", "sequence": 1,
              "occurred_at": NOW, "actor": {"department": "gd-hrss", "person": "li.ming", "role": "PROVIDER"},
              "policy_id": "guangdong-2018", "correlation_id": event.envelope.event_id, "source": "/x",
              "payload": b"p"}
    fastavro.schemaless_writer(out, schemas.released("govshare.Envelope", 2), record)
    envelope, payload = decode_record(out.getvalue())
    assert envelope.cloudevent_id is None and envelope.aggregate_id == "gd-hrss-001" and payload == b"p"


def test_the_apache_and_goavro_fingerprint_of_a_schema_maps_to_the_same_writer():
    """Apache's Python library and goavro keep a logical type's object in the canonical form
    (AVRO-4004, goavro#174): their fingerprint is accepted for the same schema."""
    for path in sorted(schemas.HISTORY_DIR.glob("*.json")):
        theirs = avro.parse(path.read_text(encoding="utf-8"))
        assert schemas.wrapped_canonical(json.loads(path.read_text(encoding="utf-8"))) == theirs.canonical_form
        (fp,) = struct.unpack("<Q", theirs.fingerprint("CRC-64-AVRO"))
        assert schemas.writer_schemas()[fp].name == theirs.fullname


def test_missing_headers_are_refused_by_name():
    with pytest.raises(DecodeError, match="ce_id"):
        from_headers([("ce_type", b"govshare.EntryRegistered")])


def test_a_payload_of_another_type_is_refused():
    event = sample()
    headers = [(k, b"govshare.EntryTakenDown" if k == "ce_type" else v)
               for k, v in to_headers(event.envelope)]
    with pytest.raises(DecodeError, match="does not match"):
        decode_message(headers, encode_payload(event.payload))


@pytest.mark.parametrize("line, error, match", [
    ("{not json", SubmissionError, "malformed JSON"),
    ('{"type": "EntryDeleted", "aggregate_id": "a", "sequence": 1, "actor": {}, "policy": "p", '
     '"payload": {}}', UnknownEventType, "unknown event type 'EntryDeleted'"),
    ('{"type": "EntryTakenDown", "aggregate_id": "a", "sequence": 1, "policy": "p", "payload": {}}',
     SubmissionError, "missing field"),
])
def test_publisher_mistakes_get_clear_errors(line, error, match):
    with pytest.raises(error, match=match):
        parse_line(line, now=NOW)


def test_a_payload_that_does_not_match_its_schema_names_the_field():
    data = json.loads(lines(registered("a"))[0])
    data["payload"]["attributes"]["share_type"] = "SOMETIMES"
    with pytest.raises(PayloadMismatch, match="payload.attributes.share_type"):
        parse_line(json.dumps(data), now=NOW)
    del data["payload"]["attributes"]["title"]
    with pytest.raises(PayloadMismatch, match="title"):
        parse_line(json.dumps(data), now=NOW)


def test_every_current_schema_is_recorded_in_the_history():
    """A schema change must be released with `python -m events.registry --freeze` so old readers resolve."""
    recorded = schemas.writer_schemas()
    for kind in all_kinds():
        fp = schemas.fingerprint(schemas.canonical(kind.schema_name))
        assert fp in recorded, f"{kind.schema_name} changed: run python -m events.registry --freeze"


@pytest.mark.parametrize("fp", sorted({w.fingerprint for w in schemas.writer_schemas().values()}))
def test_events_written_with_any_released_schema_are_readable_now(fp):
    """Backward compatibility: the current reader resolves every released writer schema."""
    released = schemas.writer_schemas()[fp]
    name, writer = released.name, released.schema
    reader = schemas.current(name)
    for datum in generate_many(writer, 20):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, writer, datum)
        out.seek(0)
        fastavro.schemaless_reader(out, writer, reader)


def test_a_breaking_change_would_fail_the_compatibility_check():
    """The check above can fail: a new field without a default breaks old events."""
    writer = next(iter(schemas.writer_schemas().values())).schema
    broken = json.loads(json.dumps(schemas._plain(writer)))
    broken["fields"].append({"name": "added_without_default", "type": "string"})
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer, next(iter(generate_many(writer, 1))))
    out.seek(0)
    with pytest.raises(SchemaResolutionError, match="added_without_default"):
        fastavro.schemaless_reader(out, writer, fastavro.parse_schema(broken))
    assert to_parsing_canonical_form(fastavro.parse_schema(broken)) != to_parsing_canonical_form(writer)


@pytest.mark.parametrize("name", ["EntryRegistered.v1", "ChangeObligationRaised.v1"])
def test_golden_bytes_of_released_versions_still_decode_to_the_same_event(name):
    """Bytes written by v1 publishers, kept as files: a change that misreads them fails here."""
    from pathlib import Path

    from events.records import to_json
    golden = Path(__file__).with_name("golden")
    payload = decode_payload((golden / f"{name}.avro").read_bytes())
    assert to_json(payload) == json.loads((golden / f"{name}.json").read_text())


def _fastavro_record(e, payload: bytes) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schemas.current("govshare.Envelope"), {
        "event_id": e.event_id, "event_type": e.event_type, "schema_version": e.schema_version,
        "aggregate_type": e.aggregate_type, "aggregate_id": e.aggregate_id, "sequence": e.sequence,
        "occurred_at": e.occurred_at, "recorded_at": e.recorded_at,
        "actor": {"department": e.actor.department, "person": e.actor.person, "role": e.actor.role.value},
        "policy_id": e.policy_id, "correlation_id": e.correlation_id, "causation_id": e.causation_id,
        "source": e.source, "payload": payload, "provider": e.provider, "route": e.route,
        "cloudevent_id": e.cloudevent_id, "signature": e.signature, "signing_key": e.signing_key})
    return out.getvalue()


def test_the_stored_envelope_is_written_byte_for_byte_as_fastavro_writes_it():
    """events/stored.py writes the trail's stored envelope directly: the bytes the notary seals
    and the projector stores must be the ones fastavro wrote before it, for every value."""
    import random
    import uuid
    from dataclasses import replace
    from datetime import timedelta

    from events import stored
    from events.envelope import Actor, Role

    rng = random.Random(5)
    base = sample().envelope
    texts = ["", "a", "数据资源", "x" * 63, "y" * 64, "z" * 200, "é" * 70]
    for i in range(400):
        t = NOW + timedelta(microseconds=rng.randint(-10**15, 10**15))
        e = replace(
            base, event_id=uuid.UUID(int=rng.getrandbits(128)), event_type=rng.choice(texts) or "T",
            schema_version=rng.choice([0, 1, 63, 64, 2**31 - 1, -2**31]),
            aggregate_id=rng.choice(texts), sequence=rng.choice([0, 1, 127, 128, 2**40, 2**63 - 1, -2**63]),
            occurred_at=t.astimezone(timezone(timedelta(hours=rng.choice([0, 8, -5])))),
            recorded_at=rng.choice([None, t + timedelta(days=rng.randint(-9000, 9000))]),
            actor=Actor(department=rng.choice(texts), person=rng.choice(texts), role=rng.choice(list(Role))),
            causation_id=rng.choice([None, uuid.UUID(int=rng.getrandbits(128))]),
            provider=rng.choice([None, *texts]), route=rng.choice([None, "auto", ""]),
            cloudevent_id=rng.choice([None, *texts]), signature=rng.choice([None, b"", bytes(range(200))]),
            signing_key=rng.choice([None, *texts]))
        payload = rng.randbytes(rng.choice([0, 1, 63, 64, 300, 20000]))
        assert stored.envelope_record(e, payload) == _fastavro_record(e, payload), i
        assert decode_record(encode_record(e, payload)) == (e, payload), i


def test_a_time_without_its_zone_is_left_to_fastavro():
    from dataclasses import replace
    from events import stored
    e = replace(sample().envelope, occurred_at=datetime(2026, 11, 20, 9, 0))
    with pytest.raises(stored.Unusual):
        stored.envelope_record(e, b"p")
    assert encode_record(e, b"p") == _fastavro_record(e, b"p")
