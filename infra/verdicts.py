"""Watches the output topics for what became of submitted events, as a publisher would."""
from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Iterable

import structlog
from confluent_kafka import Consumer, TopicPartition

from events import deadletter
from events.codec import decode_message, event_identity
from events.topics import Topics
from infra.system import SYSTEM
from runtime.loop import landed
from runtime.message import Incoming, from_kafka

log = structlog.get_logger("govshare.verdicts")


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
        try:
            meta = self.consumer.list_topics(timeout=10)
            assignment = []
            for topic in SYSTEM.outputs(topics):
                if topic not in meta.topics:
                    raise LookupError(f"the topic {topic} does not exist yet (is `govshare up` running?)")
                for p in meta.topics[topic].partitions:
                    _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                    assignment.append(TopicPartition(topic, p, high))
            self.consumer.assign(assignment)
        except BaseException:
            self.consumer.close()
            raise

    def read(self, timeout: float = 0.2) -> list[Incoming]:
        """What landed on the output topics since the last read (waiting up to `timeout` for the
        first, which is taken the moment it lands, with whatever landed along with it)."""
        return [from_kafka(m) for m in landed(self.consumer, 500, timeout) if m.error() is None]

    def wait(self, event_ids: set[str], timeout: float) -> dict[str, Outcome]:
        found: dict[str, Outcome] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(event_ids) and time.monotonic() < deadline:
            found.update(outcomes(self.topics, self.read(), event_ids))
        return found

    def close(self) -> None:
        self.consumer.close()


@dataclass(eq=False)
class Expected:
    """The event ids one submission waits for, and the outcomes found for them so far."""
    event_ids: frozenset[str]
    found: dict[str, Outcome] = field(default_factory=dict)


class VerdictStream:
    """One VerdictWatch for a long-lived process (the HTTP API): a thread of its own reads the
    output topics for as long as the process runs, and every submission registers the event ids
    it waits for (`expect`) before it publishes them, then waits on a condition (`wait`) until
    their outcomes are in or its timeout passes. Registering first is what makes it complete:
    the watch started at the topics' end before any of them was published, and an outcome read
    is handed to every submission that registered its event before the read was matched.

    The outcomes are read by `outcomes`, the one reading of a verdict, as for `VerdictWatch.wait`."""

    def __init__(self, kafka: dict[str, str], topics: Topics, watch: VerdictWatch | None = None):
        self.topics = topics
        self.watch = watch or VerdictWatch(kafka, topics)
        self._changed = threading.Condition()
        self._waiting: dict[str, list[Expected]] = {}
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="govshare-verdicts", daemon=True)
        self._thread.start()

    def expect(self, event_ids: Iterable[str]) -> Expected:
        expected = Expected(frozenset(event_ids))
        with self._changed:
            for event_id in expected.event_ids:
                self._waiting.setdefault(event_id, []).append(expected)
        return expected

    def wait(self, expected: Expected, event_ids: set[str], timeout: float) -> dict[str, Outcome]:
        """The outcomes of `event_ids` (registered by `expect`) found within `timeout` seconds;
        the registration is dropped either way."""
        deadline = time.monotonic() + timeout
        with self._changed:
            try:
                while not event_ids <= expected.found.keys() and not self._stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                return {k: v for k, v in expected.found.items() if k in event_ids}
            finally:
                self._forget(expected)

    def forget(self, expected: Expected) -> None:
        with self._changed:
            self._forget(expected)

    def _forget(self, expected: Expected) -> None:
        for event_id in expected.event_ids:
            waiting = self._waiting.get(event_id)
            if waiting and expected in waiting:
                waiting.remove(expected)
                if not waiting:
                    del self._waiting[event_id]

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = self.watch.read()
            except Exception as exc:  # the broker away for a while: read again once it is back
                log.warning("verdicts.read-failed", error=str(exc))
                self._stopping.wait(1)
                continue
            if not messages:
                continue
            # Who waits is looked at after the read: a submission registers before it publishes,
            # so any outcome of its events is read after it is listed here.
            with self._changed:
                wanted = set(self._waiting)
            if not wanted:
                continue
            found = self._outcomes(messages, wanted)
            if not found:
                continue
            with self._changed:
                for event_id, outcome in found.items():
                    for expected in self._waiting.get(event_id, ()):
                        expected.found[event_id] = outcome
                self._changed.notify_all()

    def _outcomes(self, messages: list[Incoming], wanted: set[str]) -> dict[str, Outcome]:
        try:
            return outcomes(self.topics, messages, wanted)
        except Exception:  # one unreadable output must not cost the others their verdict
            found: dict[str, Outcome] = {}
            for m in messages:
                try:
                    found.update(outcomes(self.topics, [m], wanted))
                except Exception as exc:
                    log.warning("verdicts.unreadable", topic=m.topic, error=f"{type(exc).__name__}: {exc}")
            return found

    def close(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(5)
        if not self._thread.is_alive():
            self.watch.close()


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
