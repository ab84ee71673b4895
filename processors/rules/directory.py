"""The department directory's rules (events/directory.py): what the platform administrator may
record, and the directory as an event is judged with it: who exists, under which jurisdiction,
in which roles, signing with which keys, at any instant. Its storage is the validator's
(processors/directory_store.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import singledispatch

from events import directory as ev
from events.codec import Event
from events.envelope import Role
from events.signing import key_id as key_id_of
from events.signing import public_from_text
from processors.profiles import Department, Policies, Policy
from processors.rules.verdicts import broken

# The roles a department may hold; SYSTEM is govshare's own and no department's.
ROLES = tuple(r.value for r in Role if r is not Role.SYSTEM)


@dataclass(frozen=True, slots=True)
class Key:
    key_id: str
    department: str
    public_raw: bytes
    registered_at: int  # epoch microseconds
    revoked_at: int | None = None


@dataclass
class Directory:
    versions: dict[str, list[tuple[int, Department]]] = field(default_factory=dict)  # oldest first
    keys: dict[str, Key] = field(default_factory=dict)

    def add(self, department_id: str, since: int, name: str, policy_id: str, roles: tuple[str, ...]) -> None:
        versions = self.versions.setdefault(department_id, [])
        if versions and versions[-1][0] == since:
            versions.pop()  # changed again at the same instant: the later change stands
        versions.append((since, Department.of_roles(department_id, name, policy_id, roles)))

    def department(self, department_id: str, at: int | None = None) -> Department | None:
        """The department as it stood at `at` (epoch microseconds), or as it stands now."""
        versions = self.versions.get(department_id)
        if not versions:
            return None
        # Newest first: nearly every department has one version, and a lookup runs per event.
        return next((d for since, d in reversed(versions) if at is None or since <= at), None)

    def __bool__(self) -> bool:
        return bool(self.versions)


def decide(event: Event, directory: Directory, policies: Policies, policy: Policy) -> None:
    """Raises RuleBroken unless the platform administrator's change can be recorded."""
    _check(event.payload, event, directory, policies, policy)


@singledispatch
def _check(p: object, event: Event, directory: Directory, policies: Policies, policy: Policy) -> None:
    raise TypeError(f"no directory rule for {type(p).__name__}")


@_check.register(ev.DepartmentRegistered)
@_check.register(ev.DepartmentChanged)
def _(p, event: Event, directory: Directory, policies: Policies, policy: Policy) -> None:
    env = event.envelope
    if not p.name.strip():
        raise broken(policy, "department-name-required", f"{env.aggregate_id} needs a name.")
    if policies.policy(p.policy_id) is None:
        raise broken(policy, "policy-unknown", f"Unknown policy {p.policy_id!r}.")
    unknown = [r for r in p.roles if r not in ROLES]
    if unknown or not p.roles:
        raise broken(policy, "department-roles-invalid",
                     f"Roles {', '.join(p.roles) or '(none)'}: each must be one of {', '.join(ROLES)}.")


@_check.register
def _(p: ev.DepartmentKeyRegistered, event: Event, directory: Directory, policies: Policies, policy: Policy) -> None:
    try:
        raw = public_from_text(p.public_key)
    except ValueError as exc:
        raise broken(policy, "key-invalid", f"{exc}.") from None
    if key_id_of(raw) != p.key_id:
        raise broken(policy, "key-invalid", f"Key id {p.key_id} is not {key_id_of(raw)}, the id of the key given.")
    key = directory.keys.get(p.key_id)
    if key is not None:
        raise broken(policy, "key-exists", f"Key {p.key_id} is registered to {key.department} already.")


@_check.register
def _(p: ev.DepartmentKeyRevoked, event: Event, directory: Directory, policies: Policies, policy: Policy) -> None:
    env, key = event.envelope, directory.keys.get(p.key_id)
    if key is None or key.department != env.aggregate_id:
        raise broken(policy, "key-unknown", f"{env.aggregate_id} has no key {p.key_id}.")
    if key.revoked_at is not None:
        raise broken(policy, "key-revoked-already", f"Key {p.key_id} is revoked already.")
