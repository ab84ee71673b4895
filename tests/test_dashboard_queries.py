"""The read queries the dashboard adds (catalog search, request states, trail status, a
subject's story), over projections every stage wrote on the in-memory runner (tests/harness.py),
SQLite and PostgreSQL. None starts a service: the dashboard's pages through HTTP and a browser
are tests/test_dashboard_browser.py's and tests/test_dashboard_scoping.py's."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from projections import queries
from projections.trail import steps
from tests.builders import AUTH, event, new_id, registered, request
from tests.conftest import EPOCH


def _an_entry_with_an_obligation_and_a_request(system) -> tuple[str, str]:
    entry, req = new_id(), new_id("req")
    system.given(
        registered(entry, title="养老机构名录 100%", codes=["I.1"]),
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
              "reference": "条例修订", "received_on": EPOCH.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()},
              **AUTH),
        request(req, entry), at=EPOCH)
    return entry, req


def test_catalog_search_matches_words_and_takes_like_wildcards_literally(system):
    entry, _ = _an_entry_with_an_obligation_and_a_request(system)
    assert [e["entry_id"] for e in queries.catalog(system.engine, search="养老")] == [entry]
    assert [e["entry_id"] for e in queries.catalog(system.engine, search="100%")] == [entry]
    assert queries.catalog(system.engine, search="0_%") == [], "LIKE wildcards in the search are taken literally"
    assert queries.catalog(system.engine, search="不存在") == []


def test_request_states_count_each_request_once(system):
    _, req = _an_entry_with_an_obligation_and_a_request(system)
    [listed] = queries.request_list(system.engine)
    assert listed["request_id"] == req
    assert sum(queries.request_counts(system.engine).values()) == 1
    assert queries.request_counts(system.engine) == {listed["status"]: 1}


def test_trail_status_shows_a_checkpoint_covering_every_recorded_event(system):
    _an_entry_with_an_obligation_and_a_request(system)
    status = queries.trail_status(system.engine)
    assert status["checkpoint"] is not None and status["not_checkpointed"] == 0
    assert status["checkpoint"]["tree_size"] >= 4


def test_a_subjects_story_is_its_own_events_and_the_limit_its_obligation_set_going(system):
    entry, _ = _an_entry_with_an_obligation_and_a_request(system)
    assert queries.deadline_list(system.engine, subject=entry)
    story = [s["what"]["event_type"] for s in steps(system.engine, subject=entry, with_state=False)]
    assert sorted(story) == ["ChangeObligationRaised", "DeadlineScheduled", "EntryRegistered"], \
        "its own events and the limit its obligation set going, not the request on it"
