"""Where processors get 'now' from. Handlers never read the wall clock: time is passed in, and
every stage takes it from one injectable clock (tests and replays drive it): the validator's
receipt of a message, the deadline engine's and the grant keeper's ticks, the notary's
signatures."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def received(self, logged: datetime) -> datetime:
        """When a message the broker logged at `logged` counts as received."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def received(self, logged: datetime) -> datetime:
        # The broker's log time: the instant of receipt, the same on every redelivery.
        return logged


class _Injected:
    """A clock a test or a replay sets: a message is received when the clock says it is, so
    that the validator judges lateness on the same clock the deadline engine counts by."""

    def now(self) -> datetime:
        raise NotImplementedError

    def received(self, logged: datetime) -> datetime:
        return self.now()


class FileClock(_Injected):
    """Reads an ISO-8601 instant from a file at every tick: a test moves time by writing it."""

    def __init__(self, path: Path):
        self.path = path

    def now(self) -> datetime:
        at = datetime.fromisoformat(self.path.read_text().strip().replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)  # naive means UTC


class FixedClock(_Injected):
    """Stands where it is set: the in-memory runner's clock, which a test or a simulation
    moves with `set`."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError(f"{at.isoformat()} has no time zone: give one (+08:00, Z)")
        self.at = at


def clock_from(spec: str) -> Clock:
    """`system` (the default) or `file:PATH`."""
    if spec.startswith("file:"):
        return FileClock(Path(spec[len("file:"):]))
    if spec == "system":
        return SystemClock()
    raise ValueError(f"unknown clock {spec!r}: use system or file:PATH")
