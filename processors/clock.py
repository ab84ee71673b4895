"""Where processors get 'now' from. Handlers never read the wall clock: time is passed in, and
the scheduler's ticks take it from an injectable clock (tests and replays drive it)."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FileClock:
    """Reads an ISO-8601 instant from a file at every tick: a test moves time by writing it."""

    def __init__(self, path: Path):
        self.path = path

    def now(self) -> datetime:
        at = datetime.fromisoformat(self.path.read_text().strip().replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)  # naive means UTC


class FixedClock:
    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at


def clock_from(spec: str) -> Clock:
    """`system` (the default) or `file:PATH`."""
    if spec.startswith("file:"):
        return FileClock(Path(spec[len("file:"):]))
    if spec == "system":
        return SystemClock()
    raise ValueError(f"unknown clock {spec!r}: use system or file:PATH")
