"""Rate limits per API token: a token bucket each, held in the API process. A bucket holds at
most `burst` requests and refills at `per_minute` a minute; a request takes one, and a request
finding it empty is answered 429 rate-limited with Retry-After (web/callers.py).

The clock is given (time.monotonic by default, the app's), so that a test moves time rather
than sleeping. The buckets are the process's own: a restarted API starts every token full."""
from __future__ import annotations

import math
import threading
import time
from typing import Callable, Hashable


class TokenBuckets:
    def __init__(self, per_minute: int, burst: int | None = None, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("a rate limit is at least one request a minute")
        self.per_minute = per_minute
        self.burst = burst if burst is not None else per_minute
        self.clock = clock
        self._refill = per_minute / 60.0  # requests a second
        self._buckets: dict[Hashable, tuple[float, float]] = {}  # key -> (requests left, when)
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> float:
        """0 when a request of `key` may go now (and takes it from its bucket); otherwise the
        seconds until one may."""
        now = self.clock()
        with self._lock:
            left, when = self._buckets.get(key, (float(self.burst), now))
            left = min(float(self.burst), left + max(0.0, now - when) * self._refill)
            if left >= 1:
                self._buckets[key] = (left - 1, now)
                return 0.0
            self._buckets[key] = (left, now)
            return (1 - left) / self._refill

    @staticmethod
    def retry_after(wait: float) -> str:
        """Retry-After in whole seconds, never less than the wait (RFC 9110 takes no fraction)."""
        return str(max(1, math.ceil(wait)))
