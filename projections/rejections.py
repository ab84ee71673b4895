"""The publisher-facing read model of rejected events and dead letters."""
from __future__ import annotations

import json

from sqlalchemy import Connection, insert

from events.codec import DeadLetter
from events.envelope import Envelope
from events.rejection import EventRejected
from projections.tables import dead_letters, rejections


def apply_rejection(payload: EventRejected, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(rejections), dict(
        event_id=str(env.event_id), rejected_event_id=str(payload.rejected_event_id),
        rejected_event_type=payload.rejected_event_type,
        aggregate_type=payload.rejected_aggregate_type, aggregate_id=payload.rejected_aggregate_id,
        rule=payload.rule, article=payload.article, message=payload.message,
        policy_id=env.policy_id, recorded_at=env.recorded_at))


def apply_dead_letter(letter: DeadLetter, record: bytes, recorded_at, tx: Connection) -> None:
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in letter.headers}
    # The ce_id of bytes that are no event can be anything: kept printable and within its column.
    event_id = "".join(c for c in headers.get("ce_id", "") if c.isprintable())[:100] or None
    tx.execute(insert(dead_letters), dict(
        id=letter.id, source=letter.source, reason=letter.reason, event_id=event_id,
        value=letter.value, headers=json.dumps(headers, ensure_ascii=False),
        recorded_at=recorded_at, record=record))
