"""Aggregation and data freshness (#25 items 14 and 2). The data authority requires an entry's
data aggregated to the platform (因需归集、应归尽归: Ningbo Art. 13; GD-2018 Art. 15); the provider
does it within the profile's limit, then keeps it current by the entry's update cycle (Ningbo
Art. 26: 按照公共数据目录中的更新周期要求…及时进行动态更新; GD-2018 Art. 21 时效性). Each is a
legal limit of the deadline engine, escalated when it lapses, and scored (GD-2018 Art. 30-31;
Ningbo Art. 34-35). On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from projections import queries
from projections.scorecards import scorecards
from tests.builders import attributes, event, new_id, registered

NB = "ningbo-haishu-2021"
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Ningbo
PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
AUTHORITY = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)


def required(entry: str, sequence: int = 2) -> dict:
    return event("AggregationRequired", entry, sequence, {"reason": "一网通办企业信息核验需要"}, **AUTHORITY)


def aggregated(entry: str, sequence: int) -> dict:
    return event("DataAggregated", entry, sequence, {"platform": "海曙区公共数据仓", "records": 5200}, **PROVIDER)


def refreshed(entry: str, sequence: int) -> dict:
    return event("DataRefreshed", entry, sequence, {"records": 40}, **PROVIDER)


def limits(harness, entry: str) -> list[dict]:
    return sorted(queries.deadline_list(harness.project(), subject=entry), key=lambda d: (d["kind"], d["due_at"]))


def test_required_data_is_aggregated_within_the_limit_or_the_provider_is_ordered_to(harness):
    # Given two of Ningbo's market regulator's entries, updated irregularly (no refresh limit),
    # whose aggregation the authority required
    done, late = new_id(), new_id()
    harness.given(registered(done, department="nb-market", policy=NB, update_frequency="不定期"),
                  registered(late, department="nb-market", policy=NB, update_frequency="不定期"), at=MON)
    harness.given(required(done), required(late), at=MON)
    [due] = limits(harness, done)
    assert (due["kind"], due["party"], due["status"]) == ("data-aggregation", "nb-market", "open")
    assert due["article"].startswith("Ningbo Art. 13")
    # When one is aggregated within the limit and the other never is
    harness.given(aggregated(done, 3), at=MON + timedelta(days=3))
    harness.advance(queries.utc(due["due_at"]) + timedelta(seconds=1))
    # Then the first limit is met and the second breached, drawing an order to the provider
    assert [d["status"] for d in limits(harness, done) if d["kind"] == "data-aggregation"] == ["met"]
    assert [(d["kind"], d["status"]) for d in limits(harness, late)] == [
        ("data-aggregation", "breached"), ("rectification", "open")]
    orders = [a for a in queries.supervision(harness.engine, party="nb-market") if a["action"] == "rectification-ordered"]
    assert len(orders) == 1
    # and the scorecard counts the aggregation duty: one of two in time
    [card] = scorecards(harness.engine, period="year", department="nb-market")
    assert (card["aggregation_due"], card["aggregation_in_time"], card["breaches"]) == (2, 1, 1)
    # and the catalog says where the data went
    entry = queries.entry(harness.engine, done)
    assert entry["aggregated_to"] == "海曙区公共数据仓" and entry["aggregated_at"] is not None


def test_aggregated_data_is_refreshed_within_its_update_cycle(harness):
    # Given a weekly entry whose data was aggregated on Monday
    entry = new_id()
    harness.given(registered(entry, department="nb-market", policy=NB, update_frequency="每周"), at=MON)
    harness.given(aggregated(entry, 2), at=MON)
    [first] = limits(harness, entry)
    assert (first["kind"], first["party"]) == ("data-refresh", "nb-market")
    assert first["article"].startswith("Ningbo Art. 26")
    assert queries.utc(first["due_at"]) == datetime(2026, 11, 9, 16, 0, tzinfo=timezone.utc)  # the end of 11-09 +08
    # When it is refreshed on Friday, then the week's limit is met and the next week's runs
    harness.given(refreshed(entry, 3), at=MON + timedelta(days=4))
    rounds = limits(harness, entry)
    assert [d["status"] for d in rounds] == ["met", "open"]
    second = rounds[1]
    # When no refresh comes in the next cycle, then the data is stale: breached and ordered
    harness.advance(queries.utc(second["due_at"]) + timedelta(seconds=1))
    assert [(d["kind"], d["status"]) for d in limits(harness, entry)] == [
        ("data-refresh", "met"), ("data-refresh", "breached"), ("rectification", "open")]
    # When the provider refreshes it late, within the order's limit, then the order is met and
    # the cycle runs again
    harness.given(refreshed(entry, 4), at=queries.utc(second["due_at"]) + timedelta(days=2))
    assert [(d["kind"], d["status"]) for d in limits(harness, entry)] == [
        ("data-refresh", "met"), ("data-refresh", "breached"), ("data-refresh", "open"), ("rectification", "met")]
    assert [a["action"] for a in queries.supervision(harness.engine, party="nb-market")] == ["rectification-ordered"]
    # and the scorecard counts freshness: two refresh limits settled, one in time
    [card] = scorecards(harness.engine, period="year", department="nb-market")
    assert (card["freshness_due"], card["freshness_in_time"]) == (2, 1)


def test_an_approved_revision_changes_the_cycle_and_an_irregular_one_runs_no_limit(harness):
    # Given a monthly entry revised (approved) to daily, and an irregular one (不定期)
    monthly, irregular = new_id(), new_id()
    harness.given(registered(monthly, department="nb-market", policy=NB, update_frequency="每月"),
                  registered(irregular, department="nb-market", policy=NB, update_frequency="不定期"), at=MON)
    codes = [c for c in queries.entry(harness.engine, monthly)["attributes"]["data_items"]]
    revised = attributes(codes=[c["code"] for c in codes], update_frequency="daily")
    harness.given(event("RevisionSubmitted", monthly, 2, {"revision_id": "rev-1", "attributes": revised}, **PROVIDER),
                  at=MON)
    harness.given(event("RevisionApproved", monthly, 3, {"revision_id": "rev-1"}, **AUTHORITY), at=MON)
    # When both are aggregated
    harness.given(aggregated(monthly, 4), aggregated(irregular, 2), at=MON)
    # Then the revised entry's data is due the next day, and the irregular one's never
    [daily] = limits(harness, monthly)
    assert queries.utc(daily["due_at"]) == datetime(2026, 11, 3, 16, 0, tzinfo=timezone.utc)  # the end of 11-03 +08
    assert limits(harness, irregular) == []


def test_a_refresh_needs_aggregated_data_and_an_aggregation_names_its_platform(harness):
    entry, gd_entry = new_id(), new_id()
    harness.given(registered(entry, department="nb-market", policy=NB), registered(gd_entry), at=MON)
    early, nowhere, gd_nowhere, by_provider = harness.when(
        refreshed(entry, 2),
        event("DataAggregated", entry, 2, {"platform": " "}, **PROVIDER),
        event("DataAggregated", gd_entry, 2, {"platform": ""}),
        event("AggregationRequired", entry, 2, {"reason": "自行归集"}, **PROVIDER), at=MON)
    assert (early["rule"], early["article"]) == ("data-must-be-aggregated",
                                                 "Ningbo Art. 26 (对所提供的公共数据及时进行动态更新)")
    assert nowhere["rule"] == "aggregation-platform-required" and nowhere["article"].startswith("Ningbo Art. 13")
    assert (gd_nowhere["rule"], gd_nowhere["article"]) == ("aggregation-platform-required",
                                                           "GD-2018 Art. 15 (报送到本级政务信息资源共享平台)")
    # the authority requires an aggregation; the provider does not require it of itself
    assert by_provider["rule"] == "actor-not-permitted"
