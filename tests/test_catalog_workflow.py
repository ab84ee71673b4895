"""The catalog workflow: registration, rejection with rule and article, revision review, the
rules on actor, sequence, existence and one source, takedown, Hebei's one extension and the
completeness rules, each through every stage on the in-memory runner (tests/harness.py) over
SQLite and PostgreSQL. None needs a process or the broker: what a running service adds (the
broker, the processes, a kill) is tested in tests/test_runtime.py and tests/test_durability.py.
"""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from projections import queries
from tests.builders import LAW, attributes, event, new_id, registered
from tests.conftest import EPOCH

AUTH = dict(department="gd-authority", role="DATA_AUTHORITY")
HB = dict(department="hb-civil", policy="hebei-2023")
HB_AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
# The day the clock says in Beijing time: what a `received_on` is compared with.
TODAY = EPOCH.astimezone(ZoneInfo("Asia/Shanghai")).date()


def ruled(results):
    return [(r["status"], r.get("rule")) for r in results]


def test_a_valid_registration_is_accepted_and_shows_in_the_catalog(system):
    entry = new_id()
    [result] = system.when(registered(entry, share_type="UNCONDITIONAL"), at=EPOCH)
    assert result["status"] == "accepted"
    rows = queries.catalog(system.engine, provider="gd-hrss")
    assert [r["entry_id"] for r in rows] == [entry]
    assert rows[0]["version"] == 1 and rows[0]["status"] == "published"


def test_a_conditional_entry_without_legal_basis_is_rejected_with_rule_and_article(system):
    entry = new_id()
    [result] = system.when(registered(entry, share_type="CONDITIONAL", share_conditions="医保结算"), at=EPOCH)
    assert result["status"] == "rejected"
    assert (result["rule"], result["article"]) == ("legal-basis-required", "GD-2018 Art. 18")
    [rejected] = queries.rejected(system.engine, aggregate_id=entry)
    assert rejected["rule"] == "legal-basis-required"
    assert queries.catalog(system.engine) == []


def test_revision_review_keeps_every_version_and_fulfils_the_obligation(system):
    entry = new_id()
    revised = attributes(codes=["GD.A.1", "GD.A.2"], share_type="CONDITIONAL",
                         share_conditions="仅限审批业务", legal_basis=LAW, title="新版本")
    system.given(
        registered(entry, share_type="UNCONDITIONAL", codes=["GD.A.1"]),
        event("ChangeObligationRaised", entry, 2,
              {"obligation_id": "ob-1", "trigger": "LAW_REVISED", "reference": "个人信息保护法",
               "received_on": (TODAY - timedelta(days=1)).isoformat()}, **AUTH), at=EPOCH)
    results = system.when(
        event("RevisionSubmitted", entry, 3, {"revision_id": "rev-1", "attributes": revised, "obligation_id": "ob-1"}),
        event("RevisionApproved", entry, 4, {"revision_id": "rev-1"}, **AUTH), at=EPOCH)
    assert [r["status"] for r in results] == ["accepted"] * 2
    found = queries.entry(system.engine, entry)
    assert found["version"] == 2
    assert [v["version"] for v in found["versions"]] == [1, 2]
    assert found["versions"][0]["attributes"]["share_type"] == "UNCONDITIONAL"
    assert found["attributes"]["title"] == "新版本"
    assert found["obligations"][0]["status"] == "fulfilled"


def test_rules_on_actor_sequence_existence_and_one_source(system):
    taken, entry, other = new_id(), new_id(), new_id()
    system.given(registered(taken, codes=["GD.ONE.1"]), at=EPOCH)
    results = system.when(
        registered(other, department="gd-psb", codes=["GD.ONE.1"]),
        event("EntryRevised", entry, 2, {"attributes": attributes(), "reason": "x"}),
        event("EntryTakenDown", taken, 3, {"reason": "duplicate"}),
        event("EntryTakenDown", taken, 2, {"reason": "not mine"}, department="gd-psb"), at=EPOCH)
    assert ruled(results) == [
        ("rejected", "one-data-one-source"),
        ("rejected", "entry-must-exist"),
        ("rejected", "sequence-out-of-order"),
        ("rejected", "actor-not-permitted"),
    ]


def test_a_taken_down_entry_frees_its_items_and_cannot_be_revised(system):
    first, second = new_id(), new_id()
    system.given(registered(first, codes=["GD.FREE.1"]), at=EPOCH)
    results = system.when(
        event("EntryTakenDown", first, 2, {"reason": "merged into another entry"}),
        event("EntryRevised", first, 3, {"attributes": attributes(), "reason": "too late"}),
        registered(second, department="gd-psb", codes=["GD.FREE.1"]), at=EPOCH)
    assert ruled(results) == [("accepted", None), ("rejected", "entry-taken-down"), ("accepted", None)]


def test_hebei_allows_one_extension_of_a_change_obligation(system):
    entry = new_id()
    # Received two days before the clock's day: the extension is asked while the limit still
    # runs (extension-too-late otherwise).
    system.given(
        registered(entry, **HB),
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "DUTIES_CHANGED",
              "reference": "机构改革方案", "received_on": (TODAY - timedelta(days=2)).isoformat()}, **HB_AUTH),
        at=EPOCH)
    results = system.when(
        event("ExtensionRequested", entry, 3, {"obligation_id": "ob", "reason": "数据量大"}, **HB),
        event("ExtensionGranted", entry, 4, {"obligation_id": "ob"}, **HB_AUTH),
        event("ExtensionRequested", entry, 5, {"obligation_id": "ob", "reason": "again"}, **HB), at=EPOCH)
    assert ruled(results) == [("accepted", None), ("accepted", None), ("rejected", "extension-limit")]
    assert "Hebei" in results[-1]["article"]


# --- catalog entries: completeness (issue #12)

def test_an_incomplete_entry_and_a_change_received_tomorrow_are_rejected_with_their_articles(system):
    entry, ningbo = new_id(), new_id()
    nb = dict(department="nb-market", policy="ningbo-haishu-2021")
    results = system.when(
        registered(ningbo, share_period=None, **nb),
        registered(entry, data_items=[{"code": "GD.B.1", "name": "姓名"}, {"code": "GD.B.1", "name": "名字"}]),
        registered(entry),
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
              "reference": "个人信息保护法修订", "received_on": (TODAY + timedelta(days=1)).isoformat()}, **AUTH),
        at=EPOCH)
    assert ruled(results) == [
        ("rejected", "entry-attributes-required"), ("rejected", "data-item-duplicated"),
        ("accepted", None), ("rejected", "obligation-received-in-future")]
    assert results[0]["article"].startswith("Ningbo Art. 10") and "share_period" in results[0]["error"]
    assert results[3]["article"].startswith("GD-2018 Art. 9")
