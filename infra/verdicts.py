"""Watches the output topics for what became of submitted events, as a publisher would."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Iterable

from confluent_kafka import Consumer, TopicPartition

from events import deadletter
from events.codec import decode_message, event_identity
from events.topics import Topics
from infra.system import SYSTEM
from runtime.message import Incoming, from_kafka


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # accepted | rejected | dead-lettered
    rule: str = ""
    article: str = ""
    message: str = ""


class VerdictWatch:
    """Starts at the current end of every output topic, so it sees only what comes next."""

    def __init__(self, kafka: dict[str, str], topics: Topics):
        self.topics = topics
        self.consumer = Consumer({**kafka, "group.id": f"{topics.prefix}-submit-{uuid.uuid4()}",
                                  "enable.auto.commit": False,
                                  "fetch.wait.max.ms": 25})  # a verdict shows as soon as it lands
        meta = self.consumer.list_topics(timeout=10)
        assignment = []
        for topic in SYSTEM.outputs(topics):
            for p in meta.topics[topic].partitions:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                assignment.append(TopicPartition(topic, p, high))
        self.consumer.assign(assignment)

    def wait(self, event_ids: set[str], timeout: float) -> dict[str, Outcome]:
        found: dict[str, Outcome] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(event_ids) and time.monotonic() < deadline:
            for m in self.consumer.consume(500, timeout=0.2):
                if m.error() is None:
                    found.update(outcomes(self.topics, [from_kafka(m)], event_ids))
        return found

    def close(self) -> None:
        self.consumer.close()


def outcomes(topics: Topics, messages: Iterable[Incoming], event_ids: set[str]) -> dict[str, Outcome]:
    """What the output messages say became of these submitted events (UUIDs; a message's ce_id
    may be any string that maps to one): the one reading of a verdict, for every runner."""
    found: dict[str, Outcome] = {}
    for m in messages:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers}
        event_id = str(event_identity(headers["ce_id"], headers.get("ce_source", ""))[0]) \
            if "ce_id" in headers else None
        if m.topic == topics.dead_letters:
            if event_id in event_ids:
                found[event_id] = Outcome("dead-lettered", message=headers.get(deadletter.REASON, ""))
        elif m.topic == topics.rejections:
            if headers.get("ce_causationid") in event_ids:
                p = decode_message(m.headers, m.value).payload
                found[headers["ce_causationid"]] = Outcome("rejected", p.rule, p.article, p.message)
        elif event_id in event_ids:
            found[event_id] = Outcome("accepted")
    return found
