"""A consumed message as processors see it, whichever client delivered it."""
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


def timestamp_of(seconds: float | None) -> datetime:
    return datetime.fromtimestamp(seconds or 0, tz=timezone.utc)
