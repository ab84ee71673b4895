"""Reading the policy data files: a profile merged over the profiles it extends, and the
department directory. Plain data, no rules: the processors (processors/profiles.py) and the
read models (policies/scorecard.py) both read the files through here, so neither imports the
other and a profile means the same to both."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

POLICY_DIR = Path(__file__).resolve().parent
# A profile that names no zone: every jurisdiction the texts cover keeps China Standard Time.
DEFAULT_TIMEZONE = "Asia/Shanghai"


def read(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


def merged(name: str, directory: Path = POLICY_DIR) -> dict[str, Any]:
    """The profile `name` over the one it extends: rules and limits replaced one by one, the
    scorecard block and the grades key by key (a profile may change one weight, or one grade's
    article, and keep the rest)."""
    data = read(directory / f"{name}.toml")
    base = data.get("extends")
    if base is None:
        return data
    parent = merged(base, directory)
    return {**parent, **data,
            "rules": {**parent.get("rules", {}), **data.get("rules", {})},
            "limits": {**parent.get("limits", {}), **data.get("limits", {})},
            "scorecard": _deep(parent.get("scorecard", {}), data.get("scorecard", {})),
            "grades": _deep(parent.get("grades", {}), data.get("grades", {}))}


def _deep(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def departments_path(directory: Path = POLICY_DIR, departments_file: str | None = None) -> Path:
    """The department directory in use: the one given, GOVSHARE_DEPARTMENTS, or the shipped one."""
    return Path(departments_file or os.environ.get("GOVSHARE_DEPARTMENTS")
                or directory / "departments.toml")
