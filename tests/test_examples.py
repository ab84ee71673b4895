"""The scenarios docs/decisions.md shows for the duties of issue #25, run as a reader runs them:
`govshare simulate` over the example files, no broker. Each checks what the page says happens:
which lines are refused under which rule, and which limits and supervision actions follow."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.harness import ROOT

EXAMPLES = ROOT / "examples"
AS_OF = "2026-12-07T10:00+08:00"


@dataclass(frozen=True)
class Scenario:
    files: tuple[str, ...]
    # Each line's outcome, by aggregate id and line number: "accepted" or the rule that refuses.
    outcomes: dict[int, str]
    until: str | None = None
    limits: set[tuple[str, str, str]] = field(default_factory=set)  # (subject, kind, status) present
    actions: set[tuple[str, str]] = field(default_factory=set)  # (action, party) on the supervision list


SCENARIOS = {
    "grading (item 1)": Scenario(("grading.jsonl",), {1: "classified-data-excluded", 2: "security-grade-not-allowed",
                                                      3: "accepted", 4: "accepted"},
                                 limits={("req-2026-0301", "request-decision", "open")}),
    "freshness and aggregation (items 2, 14)": Scenario(
        ("objection.jsonl", "freshness.jsonl"), {2: "accepted", 3: "accepted", 4: "accepted"},
        until="2026-12-10T10:00+08:00",
        limits={("nb-market-enterprises", "data-aggregation", "met"), ("nb-market-enterprises", "data-refresh", "breached"),
                ("nb-market-enterprises", "rectification", "open")},
        actions={("rectification-ordered", "nb-market")}),
    "method by system type (item 4)": Scenario(
        ("objection.jsonl", "system-type.jsonl"),
        {2: "method-by-system-type", 3: "accepted", 4: "exchange-needs-assessment", 5: "accepted", 6: "accepted"}),
    "cross-border use ordered corrected (items 5, 13)": Scenario(
        ("objection.jsonl", "cross-border.jsonl"), {2: "accepted", 3: "accepted", 4: "accepted", 5: "accepted"},
        until="2026-12-20T10:00+08:00",
        limits={("acc-2026-0201", "rectification", "breached")},
        actions={("usage-violation", "nb-civil"), ("rectification-ordered", "nb-civil"),
                 ("criticism-circulated", "nb-civil")}),
    "open data (item 6)": Scenario(("open-data.jsonl",), {1: "accepted", 2: "open-data-needs-risk-assessment",
                                                          3: "accepted", 4: "accepted", 5: "accepted", 6: "accepted"}),
    "system projects (item 7)": Scenario(("project.jsonl",), {1: "system-data-not-catalogued", 2: "accepted",
                                                              3: "accepted", 4: "accepted"}),
    "conflicting values (item 9)": Scenario(
        ("sharing.jsonl", "conflict.jsonl"), {2: "accepted", 3: "accepted", 4: "accepted", 5: "accepted"},
        limits={("cf-2026-0001", "conflict-negotiation", "met")}),
    "entrusted contractors (item 11)": Scenario(
        ("sharing.jsonl", "sharing-request.jsonl", "entrustment.jsonl"), {6: "accepted", 7: "accepted", 8: "accepted"},
        limits={("acc-2026-0302", "rectification", "open")}, actions={("usage-violation", "gd-amr")}),
    "usage scope (item 12)": Scenario(("usage-scope.jsonl",), {3: "accepted", 4: "outside-usage-scope",
                                                               5: "desensitization-barred"}),
    "outside the catalog (item 12)": Scenario(
        ("uncatalogued.jsonl",), {1: "accepted", 2: "accepted", 3: "accepted"}, until="2027-01-05T10:00+08:00",
        limits={("unc-2026-0001", "uncatalogued-answer", "met"), ("unc-2026-0002", "uncatalogued-answer", "breached")}),
}


def simulate(scenario: Scenario) -> dict:
    lines = "".join((EXAMPLES / name).read_text(encoding="utf-8") for name in scenario.files)
    args = [sys.executable, "-m", "infra.cli", "simulate", "-", "--as-of", AS_OF, "--json"]
    if scenario.until:
        args += ["--until", scenario.until]
    done = subprocess.run(args, input=lines, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_documented_scenario_does_what_the_page_says(name):
    scenario = SCENARIOS[name]
    found = simulate(scenario)
    outcomes = {r["line"]: r["status"] if r["status"] == "accepted" else r.get("rule") for r in found["results"]}
    assert {n: outcomes.get(n) for n in scenario.outcomes} == scenario.outcomes
    limits = {(d["subject_id"], d["kind"], d["status"]) for d in found["deadlines"]}
    assert scenario.limits <= limits, limits
    actions = {(a["action"], a["party"]) for a in found["supervision"]}
    assert scenario.actions <= actions, actions


def test_every_example_file_is_in_a_scenario_or_a_documented_walk():
    used = {f for s in SCENARIOS.values() for f in s.files}
    # the earlier rounds' walks (README, docs/integrators.md) submit these to a running service
    walked = {"catalog.jsonl", "sharing-request.jsonl", "objection-loop.jsonl", "leadership.jsonl",
              "incident.jsonl", "objection-by-authority.jsonl"}
    assert {p.name for p in EXAMPLES.glob("*.jsonl")} <= used | walked
