"""The date sweep: no verdict depends on today's date. The same scenarios run with the one clock
started at a year end, a quarter end, the eve of the Spring Festival, a weekend worked in lieu
(调休) and an ordinary day, and everything each stage decides follows that clock alone: each
limit counted from the day the clock received the obligation, each breach, order and criticism
when the clock passes its instant, each scorecard fact in the period of its own instant.

GOVSHARE_TEST_EPOCH moves every other clock-driven test the same way
(`GOVSHARE_TEST_EPOCH=2027-02-05T02:00:00+00:00 make test`).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from processors.grant_keeper import grant_id
from processors.profiles import load_all
from processors.rules.working_days import calendar_for, end_of_day, local_day
from projections import queries
from projections.scorecards import scorecards
from tests.builders import LAW, attributes, event, new_id, registered, request
from tests.harness import Harness

ZONE = ZoneInfo("Asia/Shanghai")
SWEEP = {
    "year-end": datetime(2026, 12, 31, 2, 0, tzinfo=timezone.utc),
    "quarter-end": datetime(2027, 3, 31, 8, 0, tzinfo=timezone.utc),
    "spring-festival-eve": datetime(2027, 2, 5, 2, 0, tzinfo=timezone.utc),
    "tiaoxiu-saturday": datetime(2026, 10, 10, 2, 0, tzinfo=timezone.utc),  # a Saturday worked
    "ordinary": datetime(2026, 6, 16, 2, 0, tzinfo=timezone.utc),
}
HB = dict(department="hb-civil", policy="hebei-2023")
HB_AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
NB = "ningbo-haishu-2021"


@pytest.fixture(params=sorted(SWEEP))
def at(request) -> datetime:
    return SWEEP[request.param]


@pytest.fixture
def harness(database_url, tmp_path, at):
    found = Harness(database_url, tmp_path / "home", at=at)
    yield found
    found.sim.close()


def _day(at: datetime) -> str:
    return local_day(at, "Asia/Shanghai").isoformat()


def _period(at: datetime, period: str) -> str:
    local = at.astimezone(ZONE)
    return {"month": f"{local.year}-{local.month:02d}", "quarter": f"{local.year}-Q{(local.month - 1) // 3 + 1}",
            "year": str(local.year)}[period]


def test_obligations_run_and_lapse_on_the_clock_and_score_in_their_own_periods(harness, at):
    kept, missed = new_id(), new_id()
    raised = {"obligation_id": "ob", "trigger": "LAW_REVISED", "reference": "条例修订", "received_on": _day(at)}
    harness.given(registered(kept, **HB), event("ChangeObligationRaised", kept, 2, raised, **HB_AUTH),
                  registered(missed, **HB), event("ChangeObligationRaised", missed, 2, raised, **HB_AUTH),
                  event("RevisionSubmitted", kept, 3, {"revision_id": "r", "obligation_id": "ob",
                                                       "attributes": attributes()}, **HB))
    engine = harness.engine
    # Given: the limit counts 10 working days from the day the clock received the obligation.
    [open_] = queries.deadline_list(engine, party="hb-civil", status="open")
    calendar = calendar_for(load_all().policy("hebei-2023").jurisdiction)
    expected = end_of_day(calendar.add_working_days(local_day(at, "Asia/Shanghai"), 10), "Asia/Shanghai")
    assert queries.utc(open_["due_at"]) == expected
    [met] = queries.deadline_list(engine, party="hb-civil", status="met")
    assert queries.utc(met["closed_at"]) == at

    # When the clock reaches the limit: the breach and the rectification order; then the order's.
    due = queries.utc(open_["due_at"])
    harness.advance(due - timedelta(seconds=1))
    assert not queries.deadline_list(engine, overdue=True), "a second early: nothing lapsed"
    harness.advance(due)
    [order] = queries.supervision(engine, party="hb-civil")
    harness.advance(queries.utc(order["due_at"]))
    actions = [a["action"] for a in queries.supervision(engine, party="hb-civil")]
    assert actions == ["rectification-ordered", "criticism-circulated"]

    # Then every fact counts in the period of its own instant.
    for period in ("month", "quarter", "year"):
        cards = {c["period"]: c for c in scorecards(engine, period=period, department="hb-civil")}
        assert sum(c["catalog_due"] for c in cards.values()) == 2, period
        assert sum(c["catalog_in_time"] for c in cards.values()) == 1, period
        assert sum(c["breaches"] for c in cards.values()) == 2, period
        assert cards[_period(at, period)]["catalog_in_time"] == 1, period
        assert cards[_period(due, period)]["breaches"] >= 1, period
        assert cards[_period(queries.utc(order["due_at"]), period)]["criticisms"] == 1, period


def test_a_review_an_objection_and_a_grant_follow_the_clock(harness, at):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批"),
                  request(req, entry, period_end=(local_day(at, "Asia/Shanghai") + timedelta(days=30)).isoformat()),
                  event("ProviderConsulted", req, 2, {}, department="gd-authority", role="DATA_AUTHORITY"))
    engine = harness.engine
    # GD-2018 Art. 19: the data authority decides within its limit, counted from the receipt.
    [decision] = queries.deadline_list(engine, subject=req, status="open")
    assert decision["kind"] == "request-decision" and queries.utc(decision["due_at"]) > at
    harness.given(event("ProviderAnswered", req, 3, {"agrees": True}, department="gd-hrss", role="PROVIDER"),
                  event("RequestApproved", req, 4, {}, department="gd-authority", role="DATA_AUTHORITY"),
                  at=at + timedelta(hours=1))
    assert {d["status"] for d in queries.deadline_list(engine, subject=req)} == {"met"}
    [grant] = queries.grant_list(engine, grantee="gd-amr")
    assert grant["grant_id"] == grant_id(req) and grant["status"] == "open"
    # The grant lapses at the end of its last day, on the clock, not on today's date.
    last = end_of_day(local_day(at, "Asia/Shanghai") + timedelta(days=30), "Asia/Shanghai")
    harness.advance(last - timedelta(seconds=1))
    assert queries.grant_list(engine, grantee="gd-amr")[0]["status"] == "open"
    harness.advance(last)
    assert queries.grant_list(engine, grantee="gd-amr")[0]["status"] == "expired"

    # A Ningbo objection is processed within its limit on the same clock.
    nb_entry, objection = new_id(), new_id("obj")
    harness.given(registered(nb_entry, department="nb-market", policy=NB),
                  event("ObjectionReported", objection, 1, {"entry_id": nb_entry, "kind": "ERROR", "records": ["r"],
                        "fields": ["f"], "expected": "e"}, department="nb-civil", role="USER", policy=NB))
    [limit] = queries.deadline_list(engine, subject=objection)
    assert limit["kind"] == "objection-processing" and queries.utc(limit["due_at"]) > at + timedelta(hours=1)
    harness.advance(queries.utc(limit["due_at"]))
    statuses = {d["kind"]: d["status"] for d in queries.deadline_list(engine, subject=objection)}
    assert statuses == {"objection-processing": "breached", "rectification": "open"}
