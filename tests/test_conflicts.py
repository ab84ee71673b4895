"""Conflicting values between departments (#25 item 9; GD-2018 Art. 13: 不同部门提供同一类别的数据
不一致时，相关部门应当及时协商形成一致意见，不能形成一致意见的，由本级政务数据主管部门会同相关部门协调
处理). Both providers negotiate within the limit, or one refers the conflict to their data
authority, which coordinates. On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from projections import queries
from tests.builders import event, new_id, registered

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
PSB = dict(department="gd-psb", role="PROVIDER")
HEALTH = dict(department="gd-health", role="PROVIDER")
AUTHORITY = dict(department="gd-authority", role="DATA_AUTHORITY")


def two_entries(harness) -> tuple[str, str]:
    """The public security department's household entry and the health department's birth
    records, both giving dates of birth."""
    household, births = new_id(), new_id()
    harness.given(registered(household, department="gd-psb", codes=[f"P.{household}"]),
                  registered(births, department="gd-health", codes=[f"H.{births}"]), at=MON)
    return household, births


def reported(conflict: str, household: str, births: str, **actor) -> dict:
    return event("ValueConflictReported", conflict, 1, {
        "entry_id": household, "other_entry_id": births, "items": "出生日期",
        "description": "同一居民的出生日期两部门登记不一致"}, **(actor or dict(department="gd-amr", role="USER")))


def test_both_providers_negotiate_in_time_or_refer_it_and_the_authority_coordinates(harness):
    household, births = two_entries(harness)
    agreed, referred = new_id("cf"), new_id("cf")
    # Given two conflicts a using department reported between the two providers' entries
    harness.given(reported(agreed, household, births), reported(referred, household, births), at=MON)
    # Then each provider must negotiate within the limit
    limits = queries.deadline_list(harness.project(), subject=agreed)
    assert sorted((d["kind"], d["party"]) for d in limits) == [
        ("conflict-negotiation", "gd-health"), ("conflict-negotiation", "gd-psb")]
    assert limits[0]["article"].startswith("GD-2018 Art. 13")
    # When they agree on one, and the health department refers the other
    harness.given(event("ConflictNegotiated", agreed, 2, {"agreement": "以公安户籍登记为准，卫健部门更正"}, **HEALTH),
                  event("ConflictReferred", referred, 2, {"reason": "双方均认为本部门数据准确"}, **PSB),
                  at=MON + timedelta(days=2))
    # Then both limits of each are met, and only the authority coordinates the referred one
    assert {d["status"] for d in queries.deadline_list(harness.project(), party="gd-psb")} == {"met"}
    late_party, twice, coordinated = harness.when(
        event("ConflictCoordinated", agreed, 3, {"decision": "以出生医学证明为准"}, **AUTHORITY),
        event("ConflictNegotiated", referred, 3, {"agreement": "已一致"}, **PSB),
        event("ConflictCoordinated", referred, 3, {"decision": "以出生医学证明为准，公安同步更正"}, **AUTHORITY),
        at=MON + timedelta(days=5))
    assert (late_party["rule"], twice["rule"], coordinated["status"]) == (
        "conflict-not-referred", "conflict-not-open", "accepted")
    assert late_party["article"].startswith("GD-2018 Art. 13")
    rows = {r["conflict_id"]: r for r in queries.conflict_list(harness.project())}
    assert (rows[agreed]["status"], rows[referred]["status"]) == ("negotiated", "coordinated")
    assert (rows[referred]["provider"], rows[referred]["other_provider"]) == ("gd-psb", "gd-health")
    listed = json.loads(harness.cli("query", "conflicts", "--status", "coordinated", "--json").stdout)
    assert [r["conflict_id"] for r in listed] == [referred]


def test_a_conflict_not_negotiated_in_time_is_each_providers_breach(harness):
    household, births = two_entries(harness)
    conflict = new_id("cf")
    harness.given(reported(conflict, household, births), at=MON)
    due = max(queries.utc(d["due_at"]) for d in queries.deadline_list(harness.project(), subject=conflict))
    harness.advance(due + timedelta(seconds=1))
    breached = {(d["party"], d["kind"], d["status"]) for d in queries.deadline_list(harness.project(), subject=conflict)}
    assert {("gd-psb", "conflict-negotiation", "breached"), ("gd-health", "conflict-negotiation", "breached"),
            ("gd-psb", "rectification", "open"), ("gd-health", "rectification", "open")} == breached


def test_a_conflict_is_between_two_providers_of_one_jurisdiction(harness):
    household, births = two_entries(harness)
    own, nb_entry = new_id(), new_id()
    harness.given(registered(own, department="gd-psb", codes=[f"P.{own}"]),
                  registered(nb_entry, department="nb-market", policy="ningbo-haishu-2021"), at=MON)
    one_provider, two_places, not_a_party, elsewhere = harness.when(
        reported(new_id("cf"), household, own),
        reported(new_id("cf"), household, nb_entry),
        event("ConflictNegotiated", new_id("cf"), 2, {"agreement": "x"}, **PSB),
        reported(new_id("cf"), household, births, department="hb-authority", role="DATA_AUTHORITY",
                 policy="hebei-2023"), at=MON)
    assert (one_provider["rule"], one_provider["article"]) == (
        "conflict-needs-two-providers", "GD-2018 Art. 13 (不同部门提供同一类别的数据不一致时)")
    assert two_places["rule"] == "conflict-of-one-jurisdiction"
    assert not_a_party["rule"] == "conflict-must-exist"
    assert elsewhere["rule"] == "authority-of-the-entry"
