"""The scorecard formula as policy data: the `[scorecard]` block of policies/common.toml, which
a profile may override key by key, read for a department through its jurisdiction.

Each area and penalty names its article (or "govshare platform rule"), and its note says the
number is a deployment choice. The read model (projections/scorecards.py) counts;
`Formula.score` turns the counts into the score.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Mapping

from policies.files import DEFAULT_TIMEZONE, POLICY_DIR, departments_path, merged, read

BASELINE = "common"
FULL = 100.0  # the scale: a score is a percentage


@dataclass(frozen=True, slots=True)
class Area:
    """A duty scored by the share of its deadlines met in time: catalog, requests, objections."""
    name: str
    weight: float
    kinds: tuple[str, ...]  # the deadline kinds (processors/rules/deadlines.py) that count in it
    article: str
    note: str = ""  # the explanation beside the citation: the weight is a deployment choice


@dataclass(frozen=True, slots=True)
class Penalty:
    """Points taken off per sanction or violation counted in the period."""
    name: str  # the count it applies to: rectifications, criticisms, usage_violations
    points: float
    article: str
    note: str = ""  # the explanation beside the citation: the points are a deployment choice


@dataclass(frozen=True, slots=True)
class Formula:
    id: str
    title: str
    policy_id: str  # the profile it was read from
    areas: tuple[Area, ...]
    penalties: tuple[Penalty, ...]

    def area_of(self, kind: str) -> Area | None:
        return next((a for a in self.areas if kind in a.kinds), None)

    def score(self, counts: Mapping[str, int]) -> float | None:
        """100 times the weighted share met in time over the areas with anything due, less the
        penalties' points, within 0..100. A department with sanctions or violations but no
        weighed duty due in the period starts from 100 and loses their points: a penalty always
        counts. None only when nothing at all was counted (no duty, no penalty): no score,
        rather than a perfect one.

        `counts` has `<area>_due` and `<area>_in_time` per area, and a count per penalty."""
        due = [(a.weight, counts.get(f"{a.name}_in_time", 0) / n)
               for a in self.areas if (n := counts.get(f"{a.name}_due", 0))]
        weight = sum(w for w, _ in due)
        taken = sum(p.points * counts.get(p.name, 0) for p in self.penalties)
        if not weight and not taken:
            return None
        met = FULL * sum(w * share for w, share in due) / weight if weight else FULL
        return round(min(FULL, max(0.0, met - taken)), 1)


class FormulaError(ValueError):
    """A [scorecard] block that cannot be scored with: said in one line, naming the profile."""


def formula(policy_id: str = BASELINE, directory: Path = POLICY_DIR) -> Formula:
    return _formula(policy_id, directory)


@cache
def _formula(policy_id: str, directory: Path) -> Formula:
    block = merged(policy_id, directory).get("scorecard")
    if not block:
        raise FormulaError(f"policy {policy_id!r} has no [scorecard] block (policies/common.toml has one)")
    try:
        areas = tuple(Area(name, float(a["weight"]), tuple(a["kinds"]), a["article"], a.get("note", ""))
                      for name, a in block.get("areas", {}).items())
        penalties = tuple(Penalty(name, float(p["points"]), p["article"], p.get("note", ""))
                          for name, p in block.get("penalties", {}).items())
        found = Formula(block["id"], block.get("title", ""), policy_id, areas, penalties)
    except (KeyError, TypeError, ValueError) as exc:
        raise FormulaError(f"policy {policy_id!r}: [scorecard] lacks or mistypes {exc}") from None
    if not areas or any(a.weight < 0 for a in areas) or sum(a.weight for a in areas) <= 0:
        raise FormulaError(f"policy {policy_id!r}: [scorecard] needs areas with weights >= 0, not all 0")
    return found


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    policy_id: str
    timezone: str


@cache
def jurisdiction(policy_id: str | None, directory: Path = POLICY_DIR) -> Jurisdiction:
    """The profile a department of this jurisdiction is scored under and the zone its periods
    are counted in; the baseline's for a party the directory does not list (None: the
    deadline engine's fallback "data-authority")."""
    policy_id = policy_id or BASELINE
    return Jurisdiction(policy_id, merged(policy_id, directory).get("timezone", DEFAULT_TIMEZONE))


def jurisdiction_of(department: str, departments_file: str | None = None,
                    directory: Path = POLICY_DIR) -> Jurisdiction:
    """A department's jurisdiction as the directory govshare started with lists it: only where
    no directory's read model is at hand (the upgrade of migrations/versions/projections_0003);
    everything else reads the read model (projections/directory.py)."""
    listed = read(departments_path(directory, departments_file))["departments"].get(department)
    return jurisdiction(listed["policy"] if listed else None, directory)
