"""Turning a publisher's JSON line into an event, with a clear error for each way it can be wrong.

A line looks like:
  {"type": "EntryRegistered", "aggregate_id": "gd-hrss-001", "sequence": 1,
   "actor": {"department": "gd-hrss", "person": "li.ming", "role": "PROVIDER"},
   "policy": "guangdong-2018", "payload": {...}}
Optional: "id" (a retry must reuse it), "occurred_at", "correlation_id", "causation_id", "source".
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from events.codec import Event, encode_payload, payload_from_json, to_headers
from events.envelope import Actor, Envelope
from events.errors import EventError, PayloadMismatch
from events.publisher import Outgoing
from events.records import from_plain
from events.registry import kind_of
from events.topics import Topics

REQUIRED = ("type", "aggregate_id", "sequence", "actor", "policy", "payload")


class SubmissionError(EventError):
    pass


def parse_line(text: str, *, now: datetime) -> Event:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionError(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SubmissionError("malformed event: expected a JSON object")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise SubmissionError(f"missing field(s): {', '.join(missing)}")
    kind = kind_of(data["type"])
    payload = payload_from_json(kind.event_type, data["payload"])
    try:
        envelope = Envelope(
            event_id=uuid.UUID(data["id"]) if data.get("id") else uuid.uuid4(),
            event_type=kind.event_type, schema_version=kind.version,
            aggregate_type=kind.aggregate_type, aggregate_id=_text(data, "aggregate_id"),
            sequence=_positive(data["sequence"]),
            occurred_at=_time(data.get("occurred_at")) or now,
            actor=from_plain(Actor, data["actor"], "actor"), policy_id=_text(data, "policy"),
            correlation_id=uuid.UUID(data["correlation_id"]) if data.get("correlation_id") else uuid.uuid4(),
            causation_id=uuid.UUID(data["causation_id"]) if data.get("causation_id") else None,
            source=data.get("source") or f"/departments/{data['actor'].get('department', '')}")
    except (ValueError, TypeError, AttributeError) as exc:
        raise SubmissionError(f"malformed envelope: {exc}") from None
    return Event(envelope, payload)


def _text(data: dict, key: str) -> str:
    if not isinstance(data[key], str) or not data[key]:
        raise PayloadMismatch(f"{key}: expected a non-empty string")
    return data[key]


def _positive(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PayloadMismatch(f"sequence: expected a positive integer, got {value!r}")
    return value


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def to_inbox(event: Event, topics: Topics) -> Outgoing:
    env = event.envelope
    return Outgoing(topics.inbox(env.aggregate_type), env.aggregate_id.encode(),
                    encode_payload(event.payload), to_headers(env))
