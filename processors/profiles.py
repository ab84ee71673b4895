"""Policy profiles and the department directory, loaded from data files under policies/.

Every rule and legal limit govshare enforces comes from here, each naming its article, so a
jurisdiction's numbers are data (policies/*.toml), never constants in code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from policies.files import DEFAULT_TIMEZONE, POLICY_DIR, departments_path
from policies.files import merged as _merged
from policies.files import read as _read


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    article: str
    text: str
    # What the rule requires where that is a list the jurisdiction sets (the attributes an
    # entry must state): data beside its article, so a profile changes it without code.
    required: tuple[str, ...] = ()
    # What the citation does not say: why govshare applies the rule, where a number is the
    # deployment's choice. Kept beside the article, never part of it (`article` is the citation
    # a supervisor reads: a text's short name and article numbers, or "govshare platform rule").
    note: str = ""


@dataclass(frozen=True, slots=True)
class Limit:
    id: str
    article: str
    working_days: int | None = None
    natural_days: int | None = None
    max_extensions: int | None = None
    # Who must act within the limit, where the texts differ on it: "provider" or
    # "data-authority" (GD-2008 Art. 22 gives a request's answer to the provider).
    party: str | None = None
    note: str = ""  # as Rule.note: the explanation beside the citation, e.g. a deployment's number
    # The update cycles (an entry's update_frequency, as catalogs write it) this limit is the
    # refresh limit of: a data-refresh-* limit (data freshness).
    frequencies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Grade:
    """A security grade (安全等级) and what data of that grade allows: policy data, so a
    jurisdiction's grade list and its consequences change without code."""
    id: str
    label: str
    article: str
    share_types: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    automatic: bool = False  # whether an unconditional entry of this grade is granted on request
    desensitized: bool = False  # whether its non-shareable data may be provided desensitized
    excluded: bool = False  # classified (涉密): outside the sharing platform altogether
    open_types: tuple[str, ...] = ()  # the open types (开放属性) it allows; none listed: any
    note: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    title: str
    jurisdiction: str
    timezone: str
    rules: dict[str, Rule] = field(default_factory=dict)
    limits: dict[str, Limit] = field(default_factory=dict)
    grades: dict[str, Grade] = field(default_factory=dict)

    def applies(self, rule_id: str) -> bool:
        return rule_id in self.rules

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def refresh_limit(self, frequency: str | None) -> Limit | None:
        """The limit within which data of this update cycle is refreshed; None for a cycle the
        profile does not know (不定期, or no cycle stated): no freshness limit runs."""
        wanted = (frequency or "").strip().lower()
        return next((lim for lim in self.limits.values() if wanted and wanted in lim.frequencies), None)


@dataclass(frozen=True, slots=True)
class Department:
    id: str
    name: str
    policy_id: str
    authority: bool = False
    # The roles it may act in. The file may list them; by default a data authority acts as one
    # and any other department provides and uses data.
    roles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.roles:
            object.__setattr__(self, "roles", (DATA_AUTHORITY,) if self.authority else DEPARTMENT_ROLES)

    @classmethod
    def of_roles(cls, id: str, name: str, policy_id: str, roles: tuple[str, ...]) -> Department:
        return cls(id, name, policy_id, DATA_AUTHORITY in roles, tuple(roles))


DATA_AUTHORITY, DEPARTMENT_ROLES = "DATA_AUTHORITY", ("PROVIDER", "USER")


def _department(id: str, entry: dict[str, Any]) -> Department:
    if "roles" in entry:
        return Department.of_roles(id, entry["name"], entry["policy"], tuple(entry["roles"]))
    return Department(id, entry["name"], entry["policy"], entry.get("authority", False))


# Data files beside the profiles that are not profiles themselves.
NOT_PROFILES = ("common", "departments", "calendar")


class UnknownPolicy(KeyError):
    pass


def load_policy(policy_id: str, directory: Path = POLICY_DIR) -> Policy:
    if not (directory / f"{policy_id}.toml").exists() or policy_id in NOT_PROFILES[1:]:
        raise UnknownPolicy(policy_id)
    data = _merged(policy_id, directory)
    return Policy(
        id=data["id"], title=data["title"], jurisdiction=data.get("jurisdiction", ""),
        timezone=data.get("timezone", DEFAULT_TIMEZONE),
        rules={k: Rule(k, v["article"], v["text"], tuple(v.get("required", ())), v.get("note", ""))
               for k, v in data.get("rules", {}).items()},
        limits={k: Limit(k, **{f: tuple(x) if isinstance(x, list) else x for f, x in v.items()})
                for k, v in data.get("limits", {}).items()},
        grades={k: Grade(k, **{f: tuple(v) if isinstance(v, list) else v for f, v in g.items()})
                for k, g in data.get("grades", {}).items()},
    )


@dataclass(frozen=True, slots=True)
class Policies:
    """Every profile and the department directory: what a rule check may consult."""
    profiles: dict[str, Policy]
    departments: dict[str, Department]
    baseline: Policy  # the common rules, for events whose own policy is unknown

    def policy(self, policy_id: str) -> Policy | None:
        """A jurisdiction's profile; the baseline's own id names the baseline (the platform
        administrator, of no jurisdiction, acts under it)."""
        found = self.profiles.get(policy_id)
        if found is None and policy_id == self.baseline.id:
            return self.baseline
        return found

    def department(self, department_id: str) -> Department | None:
        return self.departments.get(department_id)


@cache
def load_all(directory: Path = POLICY_DIR, departments_file: str | None = None) -> Policies:
    ids = [p.stem for p in directory.glob("*.toml") if p.stem not in NOT_PROFILES]
    dept_path = departments_path(directory, departments_file)
    departments = {k: _department(k, v) for k, v in _read(dept_path)["departments"].items()}
    return Policies({i: load_policy(i, directory) for i in ids}, departments,
                    load_policy("common", directory))
