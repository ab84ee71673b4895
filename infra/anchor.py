"""Reading the signed checkpoints off the trail topic: the anchor `verify` holds the database to.

The trail topic is the log the notary publishes every signed tree head to, with the leaves it
added. Someone who rewrites the projection database cannot rewrite what the broker kept, so
`verify` compares the two (see projections/verification.py).
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Collection, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from events.codec import decode_message
from events.errors import EventError
from events.topics import Topics
from audit.trail import Keys, TrailCheckpointed, checkpoint_of, note_of
from runtime.loop import consumer_config
from runtime.message import Incoming, from_kafka


class AnchorUnavailable(Exception):
    pass


@dataclass
class TrailTopic:
    """What the trail topic holds, message by message."""
    checkpoints: list[TrailCheckpointed] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)  # of each checkpoint, in the same order
    foreign: int = 0  # messages that are no checkpoint at all (a foreign writer's)
    dismissed: int = 0  # messages the platform administrator dismissed (events/operations.py)

    def unsigned(self, keys: Keys) -> list[int]:
        """The offsets of the checkpoints that no pinned key signed: what `verify` reports, and
        what an administrator who has examined them may dismiss."""
        return [offset for offset, cp in zip(self.offsets, self.checkpoints)
                if keys.problem(note_of(cp), checkpoint_of(cp).signatures)]


def signed_checkpoints(kafka: dict[str, str], topics: Topics, timeout: float = 60.0,
                       dismissed: Collection[tuple[int, int, str]] = ()) -> TrailTopic:
    """Every checkpoint on the trail topic, in order, up to its end when asked. `dismissed`:
    the (partition, offset, sha256) of messages dismissed, which are left out."""
    consumer = Consumer(consumer_config(kafka, f"{topics.prefix}-verify-{uuid.uuid4().hex[:8]}"))
    try:
        try:
            _, end = consumer.get_watermark_offsets(TopicPartition(topics.trail, 0), timeout=10)
        except KafkaException as exc:
            raise AnchorUnavailable(f"cannot read the trail topic {topics.trail}: {exc}") from None
        consumer.assign([TopicPartition(topics.trail, 0, OFFSET_BEGINNING)])
        messages: list[Incoming] = []
        read, deadline = 0, time.monotonic() + timeout
        while read < end:
            if time.monotonic() > deadline:
                raise AnchorUnavailable(f"read {read} of {end} messages of {topics.trail} within {timeout:g} s")
            batch = [m for m in consumer.consume(1000, timeout=0.5) if m.error() is None]
            if batch:
                read = batch[-1].offset() + 1
                messages += (from_kafka(m) for m in batch)
        return checkpoints_in(messages, dismissed)
    finally:
        consumer.close()


def checkpoints_in(messages: Iterable[Incoming], dismissed: Collection[tuple[int, int, str]] = ()) -> TrailTopic:
    """The checkpoints among messages of the trail topic, in order, and how many were none."""
    found = TrailTopic()
    dismissed = set(dismissed)
    for m in messages:
        if dismissed and (m.partition, m.offset, hashlib.sha256(m.value or b"").hexdigest()) in dismissed:
            found.dismissed += 1
            continue
        try:
            payload = decode_message(m.headers, m.value).payload
        except EventError:
            payload = None
        if isinstance(payload, TrailCheckpointed):
            found.checkpoints.append(payload)
            found.offsets.append(m.offset)
        else:
            found.foreign += 1
    return found
