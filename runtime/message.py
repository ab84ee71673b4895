"""A consumed message as stages see it, whichever client delivered it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


def timestamp_of(seconds: float | None) -> datetime:
    return datetime.fromtimestamp(seconds or 0, tz=timezone.utc)


def from_kafka(m) -> Incoming:
    """A confluent-kafka message as an Incoming."""
    _, ms = m.timestamp()
    return Incoming(m.topic(), m.partition(), m.offset(), timestamp_of(ms / 1000), m.key(), m.value(),
                    m.headers() or [])
