"""Publishing to Kafka. Every producer setting lives here, with why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from confluent_kafka import KafkaError, Message, Producer

from events.errors import PublishError


def producer_config(kafka: dict[str, str]) -> dict[str, object]:
    return {
        **kafka,
        "enable.idempotence": True,  # the broker drops retried duplicates per partition
        "acks": "all",  # acknowledged only once every in-sync replica has the event
        "linger.ms": 5,  # small batches: throughput without holding a publisher long
        "message.timeout.ms": 30000,  # a publish that cannot land in 30 s is an error to the caller
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
        """(partition, offset) of each message, in order; raises PublishError if any failed."""
        results: list[tuple[int, int] | KafkaError] = []
        for i, m in enumerate(messages):
            results.append(None)  # type: ignore[arg-type]
            self._producer.produce(m.topic, key=m.key, value=m.value, headers=m.headers,
                                   on_delivery=_recorder(results, i))
            self._producer.poll(0)
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishError(f"{remaining} message(s) not acknowledged within {timeout}s")
        failures = [r for r in results if isinstance(r, KafkaError) or r is None]
        if failures:
            raise PublishError(f"publish failed: {failures[0]}")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        self._producer.flush(10)


def _recorder(results: list, index: int):
    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        results[index] = err if err is not None else (msg.partition(), msg.offset())
    return on_delivery
