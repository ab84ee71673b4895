"""Publishing to Kafka. Every producer setting lives here, with why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from events.errors import PublishError

# The largest message govshare publishes: the broker's default message.max.bytes is 1 MiB, and
# what the validator accepts is bounded well below it (events/bounds.py).
MESSAGE_MAX_BYTES = 1_000_000


def producer_config(kafka: dict[str, str]) -> dict[str, object]:
    return {
        **kafka,
        "enable.idempotence": True,  # the broker drops retried duplicates per partition
        "acks": "all",  # acknowledged only once every in-sync replica has the event
        "linger.ms": 5,  # small batches: throughput without holding a publisher long
        "message.timeout.ms": 30000,  # a publish that cannot land in 30 s is an error to the caller
        "message.max.bytes": MESSAGE_MAX_BYTES,  # refused here, at once, rather than by the broker
    }


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class Publisher:
    """Publishes messages and returns only when the broker has acknowledged all of them."""

    def __init__(self, kafka: dict[str, str]):
        self._producer = Producer(producer_config(kafka))

    def publish(self, messages: Iterable[Outgoing], timeout: float = 30.0) -> list[tuple[int, int]]:
        """(partition, offset) of each message, in order.

        Raises PublishError if any failed; its `permanent` maps the index of each message the
        broker will never take (too large, say) to why, so that the caller can set it aside
        instead of retrying it forever."""
        results: list[tuple[int, int] | KafkaError | str | None] = []
        for i, m in enumerate(messages):
            results.append(None)
            try:
                self._producer.produce(m.topic, key=m.key, value=m.value, headers=m.headers,
                                       on_delivery=_recorder(results, i))
            except KafkaException as exc:
                results[i] = exc.args[0] if exc.args else KafkaError(KafkaError._FAIL)
            except BufferError:
                self._producer.flush(timeout)
                self._producer.produce(m.topic, key=m.key, value=m.value, headers=m.headers,
                                       on_delivery=_recorder(results, i))
            if i % 100 == 99:
                self._producer.poll(0)  # serve delivery reports as the queue fills, not per message
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishError(f"{remaining} message(s) not acknowledged within {timeout}s")
        failures = {i: r for i, r in enumerate(results) if isinstance(r, KafkaError) or r is None}
        if failures:
            permanent = {i: str(r) for i, r in failures.items()
                         if isinstance(r, KafkaError) and not r.retriable() and not r.fatal()
                         and r.code() in _PERMANENT}
            raise PublishError(f"publish failed: {next(iter(failures.values()))}", permanent=permanent,
                               failed=set(failures))
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._producer.flush(10)


# Errors about the message itself: sending it again can never succeed.
_PERMANENT = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG, KafkaError.INVALID_MSG_SIZE,
              KafkaError.INVALID_RECORD}


def _recorder(results: list, index: int):
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        results[index] = err if err is not None else (msg.partition(), msg.offset())
    return on_delivery
