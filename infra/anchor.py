"""Reading the signed checkpoints off the trail topic: the anchor `verify` holds the database to.

The trail topic is the log the notary publishes every signed tree head to, with the leaves it
added. Someone who rewrites the projection database cannot rewrite what the broker kept, so
`verify` compares the two (see projections/verification.py).
"""
from __future__ import annotations

import time
import uuid
from typing import Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from events.codec import decode_message
from events.errors import EventError
from events.topics import Topics
from audit.trail import TrailCheckpointed
from runtime.loop import consumer_config
from runtime.message import Incoming, from_kafka


class AnchorUnavailable(Exception):
    pass


def signed_checkpoints(kafka: dict[str, str], topics: Topics,
                       timeout: float = 60.0) -> tuple[list[TrailCheckpointed], int]:
    """Every checkpoint on the trail topic, in order, up to its end when asked; and how many
    messages there were not checkpoints at all (a foreign writer's)."""
    consumer = Consumer(consumer_config(kafka, f"{topics.prefix}-verify-{uuid.uuid4().hex[:8]}"))
    try:
        try:
            _, end = consumer.get_watermark_offsets(TopicPartition(topics.trail, 0), timeout=10)
        except KafkaException as exc:
            raise AnchorUnavailable(f"cannot read the trail topic {topics.trail}: {exc}") from None
        consumer.assign([TopicPartition(topics.trail, 0, OFFSET_BEGINNING)])
        found: list[TrailCheckpointed] = []
        foreign = 0
        read, deadline = 0, time.monotonic() + timeout
        while read < end:
            if time.monotonic() > deadline:
                raise AnchorUnavailable(f"read {read} of {end} messages of {topics.trail} within {timeout:g} s")
            batch = [m for m in consumer.consume(1000, timeout=0.5) if m.error() is None]
            if batch:
                read = batch[-1].offset() + 1
                more, others = checkpoints_in(from_kafka(m) for m in batch)
                found += more
                foreign += others
        return found, foreign
    finally:
        consumer.close()


def checkpoints_in(messages: Iterable[Incoming]) -> tuple[list[TrailCheckpointed], int]:
    """The checkpoints among messages of the trail topic, in order, and how many were none."""
    found: list[TrailCheckpointed] = []
    foreign = 0
    for m in messages:
        try:
            payload = decode_message(m.headers, m.value).payload
        except EventError:
            payload = None
        if isinstance(payload, TrailCheckpointed):
            found.append(payload)
        else:
            foreign += 1
    return found, foreign
