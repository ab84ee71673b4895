"""The department directory as events (issue #15): which departments exist, their jurisdiction,
the roles they hold and the keys they sign with. Each change is an event of the platform
administrator, so every change of who may do what is in the trail; the first directory comes
from policies/departments.toml, registered by govshare itself on first start.
"""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "department"
ADMINISTERS = (Role.PLATFORM_ADMIN,)


def _event(name: str):
    # Senders: the platform administrator; govshare itself registers the first directory
    # (SYSTEM), which no publisher may claim (the validator refuses SYSTEM from an inbox).
    return event_type(name, schema=f"govshare.directory.{name}", aggregate=AGGREGATE, senders=ADMINISTERS)


@_event("DepartmentRegistered")
@dataclass(frozen=True, kw_only=True, slots=True)
class DepartmentRegistered:
    """A department joined: its name, its jurisdiction's policy profile, the roles it may act in."""
    name: str
    policy_id: str
    roles: tuple[str, ...]


@_event("DepartmentChanged")
@dataclass(frozen=True, kw_only=True, slots=True)
class DepartmentChanged:
    """A department's name, jurisdiction or roles changed; from its recording on, events are
    judged with the new ones."""
    name: str
    policy_id: str
    roles: tuple[str, ...]
    reason: str


@_event("DepartmentKeyRegistered")
@dataclass(frozen=True, kw_only=True, slots=True)
class DepartmentKeyRegistered:
    """A public key the department signs its submissions with, valid from its recording."""
    key_id: str
    public_key: str  # base64 of the 32 raw bytes (events/signing.py public_text)


@_event("DepartmentKeyRevoked")
@dataclass(frozen=True, kw_only=True, slots=True)
class DepartmentKeyRevoked:
    """A key no longer valid from its recording: what it signed before still verifies."""
    key_id: str
    reason: str
