"""`govshare dismiss`: the platform administrator sets aside, for good and with a reason, a
message no govshare stage wrote: one a stage parked (a forged record on an output topic), or one
on the trail topic that no pinned key signed. The decision is a signed event on the trail
(events/operations.py); once it is accepted, `health` stops counting the parked message and
`verify` leaves the trail topic's message out, naming how many it left out."""
from __future__ import annotations

import hashlib
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from events.operations import dismissal_id
from events.topics import Topics
from infra.config import Settings
from infra.database import stage_engines
from infra.identity import submit_as_admin
from infra.stages import bootstrap
from runtime import parking
from runtime.loop import consumer_config

EVENT_TYPE = "MessageDismissed"  # events/operations.py


def dismiss_parked(settings: Settings, engine, stage: str, parked_id: int, reason: str) -> dict[str, Any]:
    """Dismiss the message `stage` parked as `parked_id`; the verdict. Once the dismissal is on
    the trail, every stage's parked copy of the message is marked (a second run after a crash
    finds the dismissal recorded already, and marks them)."""
    row = parking.one(engine, parked_id)
    if row is None or row["stage"] != stage:
        raise SystemExit(f"govshare: no message {parked_id} parked by {stage} (`govshare query parked`)")
    if row["offset"] is None:
        raise SystemExit(f"govshare: message {parked_id} is an output the broker refused, not a message "
                         f"read from a topic: `govshare retry-parked --id {parked_id}` publishes it again")
    return _dismissed(settings, row["topic"], row["partition"], row["offset"], row["value"], stage, reason)


def dismiss_trail_message(settings: Settings, offset: int, reason: str) -> dict[str, Any]:
    """Dismiss the trail topic's message at `offset` (its one partition), and the copies of it
    a stage parked."""
    topics = Topics(settings.topic_prefix)
    value = _read_one(settings.kafka(bootstrap(settings)), topics.trail, offset)
    return _dismissed(settings, topics.trail, 0, offset, value, "", reason)


def _dismissed(settings: Settings, topic: str, partition: int, offset: int, value: bytes | None,
               stage: str, reason: str) -> dict[str, Any]:
    sha256 = hashlib.sha256(value or b"").hexdigest()
    payload = {"topic": topic, "partition": partition, "offset": offset, "sha256": sha256, "stage": stage,
               "reason": reason}
    result = submit_as_admin(settings, EVENT_TYPE, dismissal_id(topic, partition, offset), 1, payload)
    if _recorded(result):
        by = f"event {result['event_id']}" if result["status"] == "accepted" else "an earlier dismissal"
        for engine in stage_engines(settings):
            parking.dismiss(engine, topic, partition, offset, sha256, f"dismissed by {by}: {reason}")
    return result


def _recorded(result: dict[str, Any]) -> bool:
    """Accepted now, or by an earlier run (one that stopped before it marked the row)."""
    return result["status"] == "accepted" or result.get("rule") == "message-dismissed-already"


def _read_one(kafka: dict[str, str], topic: str, offset: int) -> bytes | None:
    consumer = Consumer(consumer_config(kafka, f"govshare-dismiss-{offset}"))
    try:
        tp = TopicPartition(topic, 0, offset)
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        if not low <= offset < high:
            raise SystemExit(f"govshare: {topic} holds offsets {low}..{high - 1}, not {offset}")
        consumer.assign([tp])
        for _ in range(40):
            for m in consumer.consume(1, timeout=0.5):
                if m.error() is None and m.offset() == offset:
                    return m.value()
        raise SystemExit(f"govshare: could not read {topic} offset {offset} within 20 s")
    finally:
        consumer.close()
