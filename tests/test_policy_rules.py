"""Every rule the code can raise is in every profile that can reach it.

A rule missing from a profile is found only when an event breaks it: `policy.rule(id)` raises
KeyError and the event is parked or dead-lettered instead of rejected with its article. So the
rule ids are read from the source (processors/ and events/), not listed by hand: a rule added
in code without its profile entries fails here.

A rule is needed in a profile unless the code only reaches it where the profile allows:
- ids the code asks `policy.applies(id)` about are optional (used only where present);
- a rule raised after `if limit is None: raise ...` for `limit = policy.limits.get(L)` is
  needed only where the profile sets limit L, and one raised inside that `if` only where it
  does not.
Every profile is checked, not only those policies/departments.toml uses: a deployment's
directory (GOVSHARE_DEPARTMENTS) may put a department under any of them.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from processors.profiles import POLICY_DIR, load_all, load_policy

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*ROOT.glob("processors/**/*.py"), *ROOT.glob("events/*.py")])
Condition = tuple[str, str] | None  # None: always; ("has", L) / ("lacks", L): limit L set or not


@dataclass
class Found:
    rules: dict[str, set[Condition]]  # rule id -> the conditions under which it is raised
    baseline: set[str]  # raised with the baseline policy (the common rules)
    optional: set[str]  # asked about with applies(): used only where a profile has them
    limits: set[str]  # limits read as policy.limits[id], which must then exist


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


class _Scan:
    def __init__(self, trees: list[ast.Module]):
        self.found = Found(defaultdict(set), set(), set(), set())
        functions = [f for t in trees for f in ast.walk(t) if isinstance(f, ast.FunctionDef)]
        self.params = {f.name: [a.arg for a in (*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs)]
                       for f in functions}
        self.calls = [c for t in trees for c in ast.walk(t) if isinstance(c, ast.Call)]
        for f in functions:
            self._block(f.body, None, f, {})

    def _block(self, body: list[ast.stmt], cond: Condition, fn: ast.FunctionDef, limit_vars: dict) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef):
                continue  # scanned on its own
            limit = _limit_lookup(stmt)
            if limit:
                limit_vars[limit[0]] = limit[1]
            missing = _is_none_check(stmt, limit_vars)
            if missing:
                self._calls(stmt.test, cond, fn)
                self._block(stmt.body, ("lacks", missing), fn, limit_vars)
                self._block(stmt.orelse, cond, fn, limit_vars)
                if stmt.body and isinstance(stmt.body[-1], ast.Raise):
                    cond = ("has", missing)  # past the check, the limit is set
                continue
            for _, value in ast.iter_fields(stmt):
                values = value if isinstance(value, list) else [value]
                if values and all(isinstance(v, ast.stmt) for v in values):
                    self._block(values, cond, fn, limit_vars)
                else:
                    for v in values:
                        if isinstance(v, ast.AST):
                            self._calls(v, cond, fn)

    def _calls(self, node: ast.AST, cond: Condition, fn: ast.FunctionDef) -> None:
        for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
            name = _name(call.func)
            if name == "broken" and len(call.args) >= 2:
                ids = self._resolve(call.args[1], fn)
                for rule in ids:
                    self.found.rules[rule].add(cond)
                if "baseline" in ast.unparse(call.args[0]):
                    self.found.baseline |= ids
            elif name == "rule" and isinstance(call.func, ast.Attribute) and len(call.args) == 1 \
                    and isinstance(call.args[0], ast.Constant):  # a variable: broken()'s own lookup
                self.found.rules[call.args[0].value].add(cond)
            elif name == "applies" and call.args:
                self.found.optional |= _strings(call.args[0])
        for sub in (n for n in ast.walk(node) if isinstance(n, ast.Subscript)):
            if _name(sub.value) == "limits":
                self.found.limits |= _strings(sub.slice)

    def _resolve(self, arg: ast.expr, fn: ast.FunctionDef) -> set[str]:
        """The rule ids an argument can hold: a string, a local variable's possible strings, or
        what the callers of `fn` pass for that parameter."""
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return {arg.value}
        if not isinstance(arg, ast.Name):
            raise AssertionError(f"cannot tell which rule {ast.unparse(arg)} in {fn.name} names")
        assigned = [n.value for n in ast.walk(fn) if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == arg.id for t in n.targets)]
        if assigned:
            return set().union(*(_strings(v) for v in assigned))
        params = self.params[fn.name]
        index = params.index(arg.id)
        passed = set()
        for call in self.calls:
            if _name(call.func) != fn.name:
                continue
            given = [k.value for k in call.keywords if k.arg == arg.id]
            given += [call.args[index]] if index < len(call.args) else []
            for value in given:
                if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                    raise AssertionError(f"{fn.name} is called with {ast.unparse(value)} for {arg.id}")
                passed.add(value.value)
        assert passed, f"no caller of {fn.name} names the rule {arg.id}"
        return passed


def _limit_lookup(stmt: ast.stmt) -> tuple[str, str] | None:
    """`x = <policy>.limits.get("L")` -> ("x", "L")."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
            and isinstance(stmt.value, ast.Call) and _name(stmt.value.func) == "get" \
            and isinstance(stmt.value.func, ast.Attribute) and _name(stmt.value.func.value) == "limits" \
            and stmt.value.args and isinstance(stmt.value.args[0], ast.Constant):
        return stmt.targets[0].id, stmt.value.args[0].value
    return None


def _is_none_check(stmt: ast.stmt, limit_vars: dict[str, str]) -> str | None:
    """`if x is None:` for a limit looked up above -> that limit's id."""
    if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Compare) \
            and isinstance(stmt.test.left, ast.Name) and stmt.test.left.id in limit_vars \
            and isinstance(stmt.test.ops[0], ast.Is) and isinstance(stmt.test.comparators[0], ast.Constant) \
            and stmt.test.comparators[0].value is None:
        return limit_vars[stmt.test.left.id]
    return None


def scan() -> Found:
    return _Scan([ast.parse(p.read_text(), str(p)) for p in SOURCES]).found


FOUND = scan()
POLICIES = load_all()


def _needed(conditions: set[Condition], limits: dict) -> bool:
    return any(c is None or (c[0] == "has") == (c[1] in limits) for c in conditions)


def test_the_scan_finds_the_rules_raised_every_way():
    # Directly, through a parameter (expect_next, _status), a local (catalog's basis rule), by
    # policy.rule(...), and only past a limit check: if the scan missed a way, these would go.
    assert {"sequence-out-of-order", "entry-already-registered", "request-not-pending",
            "legal-basis-required", "usage-bound-to-grant", "message-too-large"} <= FOUND.rules.keys()
    assert FOUND.rules["objection-extension-bound"] == {("has", "objection-processing-extension")}
    assert ("lacks", "catalog-update-extension") in FOUND.rules["extension-not-provided"]
    assert {"criticism", "internal-rule-not-a-basis"} <= FOUND.optional
    assert "rectification" in FOUND.limits


@pytest.mark.parametrize("profile", sorted(POLICIES.profiles))
def test_every_rule_the_code_can_raise_is_in_the_profile(profile):
    policy = POLICIES.profiles[profile]
    missing = sorted(rule for rule, conditions in FOUND.rules.items()
                     if rule not in FOUND.optional and _needed(conditions, policy.limits)
                     and rule not in policy.rules)
    assert not missing, f"{profile} lacks rule(s) the code can raise under it: {', '.join(missing)}"
    assert not FOUND.limits - policy.limits.keys(), f"{profile} lacks limit(s) the code reads"


def test_the_rules_raised_under_the_baseline_are_common():
    common = load_policy("common", POLICY_DIR)
    assert not FOUND.baseline - common.rules.keys()


def test_every_department_works_under_a_profile():
    unknown = {d.id: d.policy_id for d in POLICIES.departments.values()
               if POLICIES.policy(d.policy_id) is None}
    assert not unknown
