"""Turning a publisher's JSON line into an event, with a clear error for each way it can be wrong.

A line looks like:
  {"type": "EntryRegistered", "aggregate_id": "gd-hrss-001", "sequence": 1,
   "actor": {"department": "gd-hrss", "person": "li.ming", "role": "PROVIDER"},
   "payload": {...}}
Optional: "id" (any string, as a CloudEvents id; a retry must reuse it), "policy" (default: the
department's jurisdiction), "occurred_at", "correlation_id", "causation_id", "source", and
"signature": {"key_id": ..., "value": base64} made over the event's signing base
(events/signing.py). A line without one is signed with the acting department's key where the
keystore given has it (`govshare submit --key`, or GOVSHARE_SIGNING_KEYS); the validator refuses
an unsigned event.

Whatever a line holds, parse_line returns its event and to_inbox the message it becomes, or
each raises an EventError whose sentence names the field or limit at fault: a line is answered
alone. The encoding is checked where it is done, once.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import Any, Callable

from events import bounds
from events.bounds import AVRO_LONG_MAX
from events.codec import Event, encode_payload, event_identity, iso_utc, payload_from_json, to_headers
from events.envelope import Actor, Envelope
from events.errors import EventError
from events.publisher import MESSAGE_MAX_BYTES, Outgoing
from events.records import from_plain, instant, shown, utf8
from events.signing import Keystore
from events.registry import EventKind, kind_of
from events.topics import Topics

REQUIRED = ("type", "aggregate_id", "sequence", "actor", "payload")


class SubmissionError(EventError):
    pass


def parse_line(line: str | bytes, *, now: datetime, keys: Keystore | None = None) -> Event:
    """`keys`: what signs a line that carries no signature; by default the keystore
    GOVSHARE_SIGNING_KEYS names (none: the line stays unsigned)."""
    data = _object(line)
    kind = _field(data, "type", lambda v: _publishable(kind_of(_text(v))))
    payload = _field(data, "payload", lambda v: payload_from_json(kind.event_type, v))
    envelope = _envelope(data, kind, now)
    given = _field(data, "signature", _signature, default=lambda: None)
    if given is not None:
        envelope = replace(envelope, signing_key=given[0], signature=given[1])
    else:
        key = (keys or _environment_keys()).for_department(envelope.actor.department)
        if key is not None:
            envelope = key.sign(envelope, encode_payload(payload))
    return Event(envelope, payload)


# A line signed without an id gets one derived from what it says: signed again, the same line
# is the same event, and a retry of it is answered, not taken twice.
LINE_ID_NAMESPACE = uuid.UUID("9d8f4b61-3c1e-5f0a-8e2b-7a6c5d4e3f21")


def signed_line(line: str | bytes, keys: Keystore, *, now: datetime) -> str:
    """The line as its department's system sends it over HTTP: everything the signature covers
    fixed in it (an id, the time it happened) and the signature added (`govshare sign`)."""
    return signed_lines([fixed_line(line, now=now)], keys)[0]


def fixed_line(line: str | bytes, *, now: datetime) -> tuple[dict, Event]:
    """A line with everything a signature covers fixed in it (an id, the time it happened), and
    its event, not signed yet; an EventError names what is wrong with the line."""
    data = _object(line)
    data.pop("signature", None)
    if not data.get("id"):
        data["id"] = str(uuid.uuid5(LINE_ID_NAMESPACE, json.dumps(data, sort_keys=True, ensure_ascii=False)))
    if not data.get("occurred_at"):
        data["occurred_at"] = iso_utc(now)
    return data, parse_line(json.dumps(data, ensure_ascii=False), now=now, keys=Keystore())


def signed_lines(fixed: list[tuple[dict, Event]], keys: Keystore) -> list[str]:
    """Fixed lines (fixed_line) signed with their department's key: one line alone, several as
    one batch under one signature (events/signing.py), which must all be one department's."""
    departments = sorted({event.envelope.actor.department for _, event in fixed})
    if len(departments) > 1:
        raise SubmissionError(f"a batch is signed with one department's key; these lines act for "
                              f"{', '.join(departments)}")
    key = keys.for_department(departments[0])
    if key is None:
        raise SubmissionError(f"no key to sign for {departments[0]}: give its key file")
    items = [(event.envelope, encode_payload(event.payload)) for _, event in fixed]
    envelopes = [key.sign(*items[0])] if len(items) == 1 else key.sign_batch(items)
    lines = []
    for (data, _), envelope in zip(fixed, envelopes):
        data["signature"] = {"key_id": envelope.signing_key,
                             "value": base64.b64encode(envelope.signature).decode("ascii")}
        lines.append(json.dumps(data, ensure_ascii=False))
    return lines


@cache
def _environment_keys() -> Keystore:
    return Keystore.from_environment()


def _signature(value: Any) -> tuple[str, bytes]:
    if not isinstance(value, dict) or set(value) != {"key_id", "value"}:
        raise TypeError('expected {"key_id": "...", "value": "<base64>"}')
    try:
        return _text(value["key_id"]), base64.b64decode(_text(value["value"]), validate=True)
    except binascii.Error:
        raise ValueError("value is not base64") from None


def _object(line: str | bytes) -> dict:
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SubmissionError(f"the line is not UTF-8: byte {line[exc.start]:#04x} at "
                                  f"position {exc.start}") from None
    try:
        data = json.loads(line)
    except RecursionError:
        raise SubmissionError("malformed JSON: nested deeper than the parser follows") from None
    except ValueError as exc:  # JSONDecodeError, or a number of more digits than Python converts
        raise SubmissionError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SubmissionError("malformed event: expected a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise SubmissionError(f"missing field(s): {', '.join(missing)}")
    return data


def _envelope(data: dict, kind: EventKind, now: datetime) -> Envelope:
    actor = _field(data, "actor", _actor)
    source = _field(data, "source", _text, default=lambda: f"/departments/{actor.department}")
    event_id, cloudevent_id = _field(data, "id", lambda v: event_identity(_text(v), source),
                                     default=lambda: (uuid.uuid4(), None))
    return Envelope(
        event_id=event_id, cloudevent_id=cloudevent_id,
        event_type=kind.event_type, schema_version=kind.version, aggregate_type=kind.aggregate_type,
        aggregate_id=_field(data, "aggregate_id", _text),
        sequence=_field(data, "sequence", _sequence),
        occurred_at=_field(data, "occurred_at", lambda v: instant(_text(v)), default=lambda: now),
        actor=actor, policy_id=_field(data, "policy", _text, default=str),
        correlation_id=_field(data, "correlation_id", _uuid, default=lambda: event_id),
        causation_id=_field(data, "causation_id", _uuid, default=lambda: None),
        source=source)


def _publishable(kind: EventKind) -> EventKind:
    """What only govshare emits (registered with no senders) is answered here, before it is
    published: the validator would refuse it with this rule, and a line known to be refused is
    not sent to the broker for the answer."""
    if not kind.senders:
        raise SubmissionError(f"type: {kind.event_type} is emitted by govshare itself and no department "
                              f"publishes it (rule event-type-not-publishable)")
    return kind


def _field(data: dict, key: str, convert: Callable[[Any], Any],
           default: Callable[[], Any] | None = None) -> Any:
    """One top-level field, converted; the one place where a conversion's failure becomes a
    sentence naming the field. An absent or empty optional field takes its default."""
    value = data.get(key)
    if default is not None and value in (None, ""):
        return default()
    try:
        return convert(value)  # an EventError raised deeper down names its field already
    except (ValueError, TypeError) as exc:  # the value is of the wrong type or form for the field
        got = shown(value)
        raise SubmissionError(f"{key}: {exc}" + ("" if got in str(exc) else f" (got {got})")) from None


def _actor(value: Any) -> Actor:
    """Who acts, whole and within bounds before anything is looked up by their name (the key
    that signs the line is a file named after the department)."""
    if not isinstance(value, dict):
        raise TypeError("expected an object with department, person and role")
    actor = from_plain(Actor, value, "actor")
    found = list(bounds.problems(actor, "actor"))
    if found:
        raise SubmissionError("; ".join(found) + " (rule value-out-of-bounds)")
    return actor


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return utf8(value)


def _uuid(value: Any) -> uuid.UUID:
    return uuid.UUID(_text(value))


def _sequence(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= AVRO_LONG_MAX:
        raise ValueError(f"expected a whole number from 1 to {AVRO_LONG_MAX}")
    return value


def to_inbox(event: Event, topics: Topics) -> Outgoing:
    """The message an event is published as. Raises SubmissionError for one the broker would
    refuse (or an encoder fail on, should a check of parse_line have missed it)."""
    env = event.envelope
    try:
        key, value, headers = env.aggregate_id.encode(), encode_payload(event.payload), to_headers(env)
    except (UnicodeEncodeError, OverflowError) as exc:
        raise SubmissionError(f"the event cannot be encoded: {exc}") from None
    size = len(key) + len(value) + sum(len(k) + len(v) for k, v in headers)
    if size > MESSAGE_MAX_BYTES:
        raise SubmissionError(f"the event encodes to {size} bytes; a message may hold at most "
                              f"{MESSAGE_MAX_BYTES} bytes (the broker's limit)")
    return Outgoing(topics.inbox(env.aggregate_type), key, value, headers)
