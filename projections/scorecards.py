"""Department scorecards (监督考核, GD-2018 Art. 30-31; Ningbo Art. 34-35): per department and
month, quarter or year, the legal limits it had to meet and met in time, its breaches, the
rectification orders and criticism it drew, and its usage violations, with a score whose
formula and weights are policy data (policies/common.toml [scorecard]).

A fact counts in the period it was settled, in the department's jurisdiction's zone: a deadline
met at its `met_at`, a breach at the `due_at` it fell due undone, a sanction when it was issued,
a usage violation when it was flagged. A month is then final once it is over, and a deadline
still open counts nowhere yet. Counting is at read time over `scorecard_facts`, so a new
weighting shows at once, without a rebuild.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from functools import singledispatch
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, func, insert, select

from events import deadline as dl
from events import incident as inc
from events import sharing as sh
from events.envelope import Envelope
from policies.scorecard import Formula, formula, jurisdiction
from projections import directory
from projections.tables import deadlines, scorecard_facts as facts

PERIODS = ("month", "quarter", "year")
# What a period label looks like, to refuse a mistyped `since` instead of comparing it as text.
LABELS = {"month": re.compile(r"\d{4}-(0[1-9]|1[0-2])"), "quarter": re.compile(r"\d{4}-Q[1-4]"),
          "year": re.compile(r"\d{4}")}
# Counts every row carries whatever the formula's areas (the interface the API and dashboard read).
COUNTS = ("catalog_due", "catalog_in_time", "requests_due", "requests_in_time", "objections_due",
          "objections_in_time", "aggregation_due", "aggregation_in_time", "freshness_due",
          "freshness_in_time", "breaches", "rectifications", "criticisms", "usage_violations", "incidents",
          "incidents_uninformed")
SANCTIONS = {"rectification": "rectifications", "criticism": "criticisms",
             "usage-violation": "usage_violations", "incident": "incidents",
             "incident-uninformed": "incidents_uninformed"}


# -- the projection: one row per scored fact ------------------------------------------------

@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Most events are no fact a department is scored on."""


def _fact(env: Envelope, tx: Connection, department: str, fact: str, at: datetime, subject_id: str,
          kind: str | None = None, second: bool = False) -> None:
    """One fact of the event; `second`: the second fact of one event (keyed apart from the first)."""
    zone = jurisdiction(_policy_of(tx, department)).timezone
    key = uuid.uuid5(env.event_id, fact) if second else env.event_id
    tx.execute(insert(facts), dict(event_id=str(key), department=department, fact=fact, kind=kind,
                                   subject_id=subject_id, at=at, **period_labels(at, zone)))


def _policy_of(conn: Connection, department: str) -> str | None:
    found = directory.lookup(conn, department)
    return found.policy_id if found else None


def period_labels(at: datetime, zone: str) -> dict[str, str]:
    """The month, quarter and year `at` falls in, in the zone (the department's
    jurisdiction's, as the directory stood when the fact was recorded)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)  # SQLite gives stored instants back naive, in UTC
    local = at.astimezone(ZoneInfo(zone))
    return {"month": f"{local.year}-{local.month:02d}", "quarter": f"{local.year}-Q{(local.month - 1) // 3 + 1}",
            "year": f"{local.year}"}


def _settled(env: Envelope, tx: Connection, fact: str, at: datetime) -> None:
    # Met and breached name neither party nor kind: the deadline's row (projected from its
    # DeadlineScheduled, earlier on the same partition) has both.
    row = tx.execute(select(deadlines.c.party, deadlines.c.kind)
                     .where(deadlines.c.deadline_id == env.aggregate_id)).first()
    if row is not None:
        _fact(env, tx, row.party, fact, at, env.aggregate_id, row.kind)


@apply.register
def _(p: dl.DeadlineMet, env: Envelope, tx: Connection) -> None:
    _settled(env, tx, "met", p.met_at)


@apply.register
def _(p: dl.DeadlineBreached, env: Envelope, tx: Connection) -> None:
    _settled(env, tx, "breached", p.due_at)


@apply.register
def _(p: dl.RectificationOrdered, env: Envelope, tx: Connection) -> None:
    # An order on its own deadline is the one a usage violation itself is (GD-2008 Art. 40): the
    # violation already counts; an order after a breach is a sanction of its own.
    if p.rectification_deadline_id != env.aggregate_id:
        _fact(env, tx, p.party, "rectification", env.occurred_at, env.aggregate_id)


@apply.register
def _(p: dl.CriticismCirculated, env: Envelope, tx: Connection) -> None:
    _fact(env, tx, p.party, "criticism", env.occurred_at, env.aggregate_id)


@apply.register
def _(p: sh.UsageViolationFlagged, env: Envelope, tx: Connection) -> None:
    _fact(env, tx, p.department, "usage-violation", env.recorded_at or env.occurred_at, p.access_id)


# -- the queries ----------------------------------------------------------------------------

def check_period(period: str, since: str | None = None) -> None:
    """Raises ValueError, in one line, for a period or a `since` label the scorecards lack."""
    if period not in PERIODS:
        raise ValueError(f"no period {period!r}: use one of {', '.join(PERIODS)}")
    if since is not None and not LABELS[period].fullmatch(since):
        example = {"month": "2026-11", "quarter": "2026-Q4", "year": "2026"}[period]
        raise ValueError(f"{since!r} is no {period} label: write it like {example}")


def scorecards(engine: Engine, *, period: str = "month", department: str | None = None,
               since: str | None = None, limit: int | None = None,
               parties: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """One row per department and period with anything to count, ordered by department and
    period; `since`: the first period label shown (2026-11, 2026-Q4, 2026); `parties`: only
    these departments' (None: every department's)."""
    check_period(period, since)
    label = facts.c[period]
    q = (select(facts.c.department, label.label("period"), facts.c.fact, facts.c.kind,
                func.count().label("n"))
         .group_by(facts.c.department, label, facts.c.fact, facts.c.kind))
    if department:
        q = q.where(facts.c.department == department)
    if parties is not None:
        q = q.where(facts.c.department.in_(sorted(parties)))
    if since:
        q = q.where(label >= since)
    tallies: dict[tuple[str, str], list] = {}
    with engine.connect() as conn:
        for r in conn.execute(q):
            tallies.setdefault((r.department, r.period), []).append((r.fact, r.kind, r.n))
        listed = directory.listed(conn)
    rows = [_row(dept, label_, tally, listed.get(dept)) for (dept, label_), tally in sorted(tallies.items())]
    return rows[:limit] if limit else rows


def scorecard_trend(engine: Engine, department: str, period: str = "month") -> list[dict[str, Any]]:
    """The department's scorecards oldest first, for a chart (periods with nothing are absent)."""
    return scorecards(engine, period=period, department=department)


TREND = 6  # periods a trend shows at least


def trend_periods(rows: list[dict[str, Any]], department: str, period: str, last: str | None,
                  count: int = TREND) -> list[dict[str, Any]]:
    """The department's rows for the `count` periods up to `last`, oldest first, a period with
    nothing counted shown as no score: a trend over the same periods for every department."""
    if last is None:
        return []
    mine = {r["period"]: r for r in rows if r["department"] == department}
    return [mine.get(label, {"department": department, "period": label, "score": None})
            for label in _labels_before(last, period, count)]


def _labels_before(last: str, period: str, count: int) -> list[str]:
    if period == "year":
        return [str(int(last) - i) for i in reversed(range(count))]
    if period == "quarter":
        year, q = int(last[:4]), int(last[-1])
        index = year * 4 + q - 1
        return [f"{i // 4}-Q{i % 4 + 1}" for i in range(index - count + 1, index + 1)]
    year, month = int(last[:4]), int(last[5:])
    index = year * 12 + month - 1
    return [f"{i // 12}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def facts_of(engine: Engine, department: str, period: str = "month") -> list[dict[str, Any]]:
    """The facts behind a department's figures, newest first: each with its period, what it is
    (met, breached, a sanction, a violation), the duty's kind and the subject it is about."""
    check_period(period)
    q = (select(facts.c[period].label("period"), facts.c.fact, facts.c.kind, facts.c.subject_id, facts.c.at,
                facts.c.event_id)
         .where(facts.c.department == department).order_by(facts.c.at.desc(), facts.c.event_id))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def _row(department: str, period: str, tally: list[tuple[str, str | None, int]],
         listed: directory.Listed | None) -> dict[str, Any]:
    # Weighed by the formula of the jurisdiction the department is under now.
    f = formula(jurisdiction(listed.policy_id if listed else None).policy_id)
    counts = dict.fromkeys(COUNTS, 0) | counted(tally, f)
    return {"department": department, "period": period, **counts, "score": f.score(counts),
            "formula": f.id, "policy_id": f.policy_id}


def counted(tally: list[tuple[str, str | None, int]], f: Formula) -> dict[str, int]:
    """The counts of (fact, kind, how many): each settled deadline in the area its kind is
    weighed in, if any; every breach, of whatever kind, among the breaches."""
    counts: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    for fact, kind, n in tally:
        if fact in SANCTIONS:
            add(SANCTIONS[fact], n)
            continue
        if fact == "breached":
            add("breaches", n)
        area = f.area_of(kind or "")
        if area is not None:
            add(f"{area.name}_due", n)
            add(f"{area.name}_in_time", n if fact == "met" else 0)
    return counts


@apply.register
def _(p: inc.SecurityIncidentReported, env: Envelope, tx: Connection) -> None:
    # A security incident of the department, reported (Ningbo Art. 31), in the period it was;
    # one whose affected users were not told counts again.
    at = env.recorded_at or env.occurred_at
    _fact(env, tx, env.actor.department, "incident", at, env.aggregate_id)
    if not p.users_informed:
        _fact(env, tx, env.actor.department, "incident-uninformed", at, env.aggregate_id, second=True)
