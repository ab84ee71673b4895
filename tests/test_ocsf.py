"""The security export: the trail scenario's every record as an OCSF API Activity event, as a
SIEM would ingest it: accepted events, the rejections with their rule and article, and the dead
letter with its reason.

The scenario is tests/test_trail.py's, played on the in-memory harness once for this module per
database kind (SQLite and PostgreSQL); `govshare export` reads it through the command line
(`harness.cli`), which needs no broker. No test here starts the real service."""
from __future__ import annotations

import json

from sqlalchemy import select

from projections.ocsf import events
from projections.tables import dead_letters, event_log, rejections
from tests import test_trail

scenario = test_trail.scenario  # the trail's scenario on the harness, played for this module

# What OCSF 1.8.0 requires of an API Activity event and of the objects in it, with the types
# it gives them: https://schema.ocsf.io/1.8.0/classes/api_activity (base event: activity_id,
# category_uid, class_uid, metadata, severity_id, time, type_uid; the class: actor, api,
# src_endpoint), https://schema.ocsf.io/1.8.0/objects/metadata (product, version) and
# https://schema.ocsf.io/1.8.0/objects/api (operation). integer_t and long_t are JSON integers,
# timestamp_t milliseconds since the epoch.
REQUIRED = {
    "class_uid": int, "category_uid": int, "activity_id": int, "type_uid": int, "severity_id": int,
    "time": int, "metadata": dict, "actor": dict, "api": dict, "src_endpoint": dict,
}
REQUIRED_IN = {"metadata": {"version": str, "product": dict}, "api": {"operation": str}}
# Objects that must carry at least one of these (OCSF's "at_least_one" constraints).
AT_LEAST_ONE = {
    "actor": ("process", "user", "invoked_by", "session", "app_name", "app_uid"),
    "src_endpoint": ("ip", "uid", "name", "hostname", "svc_name", "instance_uid", "interface_uid",
                     "interface_name", "domain"),
}
ENUMS = {"activity_id": {0, 1, 2, 3, 4, 99}, "severity_id": {0, 1, 2, 3, 4, 5, 6, 99},
         "status_id": {0, 1, 2, 99}}
EPOCH_MS_2020, EPOCH_MS_2100 = 1_577_836_800_000, 4_102_444_800_000


def export(scenario, tmp_path, *args: str) -> tuple[list[dict], dict, object]:
    out = tmp_path / "trail.ocsf.jsonl"
    done = scenario.cli("export", "--format", "ocsf", "--out", str(out), *args)
    lines = out.read_text(encoding="utf-8").splitlines()
    cover = json.loads((tmp_path / "trail.ocsf.jsonl.checkpoint.json").read_text())
    return [json.loads(line) for line in lines], cover, done


def assert_api_activity(e: dict) -> None:
    for name, kind in REQUIRED.items():
        assert isinstance(e.get(name), kind), (name, e)
    for obj, attributes in REQUIRED_IN.items():
        for name, kind in attributes.items():
            assert isinstance(e[obj].get(name), kind), (obj, name, e)
    for obj, choices in AT_LEAST_ONE.items():
        assert any(e[obj].get(c) for c in choices), (obj, e)
    for name, allowed in ENUMS.items():
        assert e[name] in allowed, (name, e)
    assert (e["class_uid"], e["category_uid"]) == (6003, 6)
    assert e["type_uid"] == e["class_uid"] * 100 + e["activity_id"]
    assert EPOCH_MS_2020 < e["time"] < EPOCH_MS_2100, "milliseconds, not seconds"
    assert e["metadata"]["version"] == "1.8.0"
    assert e["metadata"]["product"]["name"] == "govshare" and e["metadata"]["product"]["version"]
    assert isinstance(e["metadata"]["uid"], str)
    assert all(isinstance(r["uid"], str) for r in e.get("resources", []))
    assert ": null" not in json.dumps(e), "OCSF omits what is unknown"


def test_every_trail_record_is_an_api_activity_event(scenario, tmp_path):
    found, cover, done = export(scenario, tmp_path, "--progress-every", "5")
    for e in found:
        assert_api_activity(e)
    with scenario.engine.connect() as conn:
        ids = set(conn.scalars(select(event_log.c.event_id))) | set(conn.scalars(select(dead_letters.c.id)))
    # The whole trail, each record once, in trail order, and the cover sheet signs that many.
    assert len(found) == len(ids) == cover["rows"] == cover["checkpoint"]["tree_size"]
    assert {e["metadata"]["uid"] for e in found} == ids
    assert [e["metadata"]["sequence"] for e in found] == list(range(len(found)))
    # Progress on stderr, every 5 records and once at the end; stdout keeps its one line.
    assert done.stderr.splitlines() == [f"govshare: {n} records exported"
                                        for n in range(5, len(found) + 1, 5)] + [
        f"govshare: {len(found)} records exported, done"]
    assert done.stdout.splitlines() == [f"wrote {len(found)} rows to {tmp_path / 'trail.ocsf.jsonl'}; "
                                        f"checkpoint in {tmp_path / 'trail.ocsf.jsonl.checkpoint.json'}"]


def test_accepted_events_succeed_and_refusals_fail_with_their_reason(scenario, tmp_path):
    found, _, _ = export(scenario, tmp_path)
    by_kind = {}
    for e in found:
        by_kind.setdefault(e["unmapped"]["trail_kind"], []).append(e)
    assert {e["status_id"] for e in by_kind["ACCEPTED"]} == {1}
    assert {e["status"] for e in by_kind["ACCEPTED"]} == {"Success"}
    submitted = next(e for e in by_kind["ACCEPTED"] if e["resources"] == [
        {"uid": scenario.first, "type": "share-request"}] and e["api"]["operation"] == "RequestSubmitted")
    assert submitted["actor"]["user"] == {"name": "li.ming", "uid": "gd-amr/li.ming", "org": {"uid": "gd-amr"},
                                          "type_id": 1, "groups": [{"name": "USER"}]}
    assert submitted["activity_id"] == 1 and submitted["src_endpoint"]["name"]

    with scenario.engine.connect() as conn:
        refused = {r.event_id: r for r in conn.execute(select(rejections))}
        [letter] = conn.execute(select(dead_letters)).all()
    assert {e["metadata"]["uid"] for e in by_kind["REJECTED"]} == set(refused)
    for e in by_kind["REJECTED"]:
        r = refused[e["metadata"]["uid"]]
        assert (e["status_id"], e["status"], e["activity_id"]) == (2, "Failure", 0)
        assert e["status_code"] == r.rule and e["status_detail"] == f"{r.rule} ({r.article})"
        assert e["api"]["operation"] == r.rejected_event_type
        assert e["resources"] == [{"uid": r.aggregate_id, "type": r.aggregate_type}]
    again = next(e for e in by_kind["REJECTED"] if e["resources"][0]["uid"] == scenario.first)
    assert again["api"]["operation"] == "RequestApproved"
    # The refused call's actor is who made it; the validator that refused it stays beside.
    assert again["actor"]["user"] == {"name": "li.ming", "uid": "gd-amr/li.ming", "org": {"uid": "gd-amr"},
                                      "type_id": 1, "groups": [{"name": "USER"}]}
    assert again["unmapped"]["refused_by"] == "govshare/validator"

    [dead] = by_kind["DEAD_LETTERED"]
    assert (dead["status_id"], dead["status"]) == (2, "Failure")
    assert dead["metadata"]["uid"] == letter.id and dead["status_detail"] == letter.reason
    assert dead["severity_id"] > max(e["severity_id"] for e in by_kind["REJECTED"])


def test_pages_and_filters_select_what_the_trail_does(scenario, tmp_path):
    whole, _, _ = export(scenario, tmp_path)
    # Pages of two: the page boundaries, and the merge of events with dead letters, change nothing.
    assert list(events(scenario.engine, page=2)) == whole
    one, _, _ = export(scenario, tmp_path, "--aggregate", scenario.first)
    trail = json.loads(scenario.cli("trail", "--aggregate", scenario.first, "--no-state", "--json").stdout)
    assert [e["metadata"]["uid"] for e in one] == [s["event_id"] for s in trail]
    assert "DEAD_LETTERED" not in {e["unmapped"]["trail_kind"] for e in one}, "a dead letter has no aggregate"
