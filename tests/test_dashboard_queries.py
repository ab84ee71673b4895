"""The read queries the dashboard adds, on SQLite and PostgreSQL behind a real service."""
from __future__ import annotations

from infra.submit import submit_lines
from projections import queries
from projections.trail import steps
from tests.builders import AUTH, event, lines, new_id, registered, request
from tests.conftest import wait_for


def test_catalog_search_request_states_trail_status_and_a_subjects_story(service):
    entry, req = new_id(), new_id("req")
    results = submit_lines(lines(
        registered(entry, title="养老机构名录 100%", codes=["I.1"]),
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
              "reference": "条例修订", "received_on": "2026-11-20"}, **AUTH)), service.kafka, service.topics, timeout=60)
    # The request after the entry: on its own inbox it could otherwise overtake it.
    results += submit_lines(lines(request(req, entry)), service.kafka, service.topics, timeout=60)
    assert [r["status"] for r in results] == ["accepted"] * 3, [r.get("error") for r in results]
    engine = service.engine()
    wait_for(lambda: queries.request_list(engine) and queries.deadline_list(engine, subject=entry), 60,
             "the projections")

    assert [e["entry_id"] for e in queries.catalog(engine, search="养老")] == [entry]
    assert [e["entry_id"] for e in queries.catalog(engine, search="100%")] == [entry]
    assert queries.catalog(engine, search="0_%") == [], "LIKE wildcards in the search are taken literally"
    assert sum(queries.request_counts(engine).values()) == 1

    covered = wait_for(lambda: (t := queries.trail_status(engine))["checkpoint"] and t["not_checkpointed"] == 0
                       and t, 60, "a checkpoint covering every event")
    assert covered["checkpoint"]["tree_size"] >= 4

    story = [s["what"]["event_type"] for s in steps(engine, subject=entry, with_state=False)]
    assert sorted(story) == ["ChangeObligationRaised", "DeadlineScheduled", "EntryRegistered"], \
        "its own events and the limit its obligation set going, not the request on it"
