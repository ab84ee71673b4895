"""Errors raised at the event boundary; callers translate them into CLI messages or dead letters."""


class EventError(Exception):
    """Base of every error about an event's form (not about the rules it breaks)."""


class UnknownEventType(EventError):
    """The event type is not one govshare knows."""


class PayloadMismatch(EventError):
    """A payload does not match its event type's schema."""


class DecodeError(EventError):
    """Bytes or headers on a topic are not a known encoding."""


class PublishError(EventError):
    """The broker did not acknowledge a publish. `failed` holds the index of every message that
    did not land (None: unknown, assume all); `permanent` maps those it will never take to why."""

    def __init__(self, message: str, permanent: dict[int, str] | None = None,
                 failed: set[int] | None = None):
        super().__init__(message)
        self.permanent = permanent or {}
        self.failed = failed
