"""The catalog workflow end to end: real broker, real service, SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, timedelta

from infra.submit import submit_lines
from projections import queries
from tests.builders import LAW, attributes, event, lines, new_id, registered


def submit(service, *events):
    return submit_lines(lines(*events), service.kafka, service.topics, timeout=60)


def test_a_valid_registration_is_accepted_and_shows_in_the_catalog(service):
    entry = new_id()
    [result] = submit(service, registered(entry, share_type="UNCONDITIONAL"))
    assert result["status"] == "accepted"
    from tests.conftest import wait_for
    rows = wait_for(lambda: queries.catalog(service.engine(), provider="gd-hrss"), what="the entry")
    assert [r["entry_id"] for r in rows] == [entry]
    assert rows[0]["version"] == 1 and rows[0]["status"] == "published"


def test_a_conditional_entry_without_legal_basis_is_rejected_with_rule_and_article(service):
    entry = new_id()
    [result] = submit(service, registered(entry, share_type="CONDITIONAL",
                                          share_conditions="医保结算"))
    assert result["status"] == "rejected"
    assert (result["rule"], result["article"]) == ("legal-basis-required", "GD-2018 Art. 18")
    from tests.conftest import wait_for
    rejected = wait_for(lambda: queries.rejected(service.engine(), aggregate_id=entry),
                        what="the rejection projection")
    assert rejected[0]["rule"] == "legal-basis-required"
    assert queries.catalog(service.engine()) == []


def test_revision_review_keeps_every_version_and_fulfils_the_obligation(service):
    entry = new_id()
    first = registered(entry, share_type="UNCONDITIONAL", codes=["GD.A.1"])
    revised = attributes(codes=["GD.A.1", "GD.A.2"], share_type="CONDITIONAL",
                         share_conditions="仅限审批业务", legal_basis=LAW, title="新版本")
    results = submit(
        service, first,
        event("ChangeObligationRaised", entry, 2,
              {"obligation_id": "ob-1", "trigger": "LAW_REVISED", "reference": "个人信息保护法",
               "received_on": "2026-09-30"}, department="gd-authority", role="DATA_AUTHORITY"),
        event("RevisionSubmitted", entry, 3,
              {"revision_id": "rev-1", "attributes": revised, "obligation_id": "ob-1"}),
        event("RevisionApproved", entry, 4, {"revision_id": "rev-1"},
              department="gd-authority", role="DATA_AUTHORITY"))
    assert [r["status"] for r in results] == ["accepted"] * 4
    from tests.conftest import wait_for
    found = wait_for(lambda: (e := queries.entry(service.engine(), entry)) and e["version"] == 2 and e,
                     what="version 2")
    assert [v["version"] for v in found["versions"]] == [1, 2]
    assert found["versions"][0]["attributes"]["share_type"] == "UNCONDITIONAL"
    assert found["attributes"]["title"] == "新版本"
    assert found["obligations"][0]["status"] == "fulfilled"


def test_rules_on_actor_sequence_existence_and_one_source(service):
    taken, entry, other = new_id(), new_id(), new_id()
    # Different entries travel on different partitions: order across them only by waiting.
    results = submit(service, registered(taken, codes=["GD.ONE.1"])) + submit(
        service,
        registered(other, department="gd-psb", codes=["GD.ONE.1"]),
        event("EntryRevised", entry, 2, {"attributes": attributes(), "reason": "x"}),
        event("EntryTakenDown", taken, 3, {"reason": "duplicate"}),
        event("EntryTakenDown", taken, 2, {"reason": "not mine"}, department="gd-psb"),
    )
    assert [(r["status"], r.get("rule")) for r in results] == [
        ("accepted", None),
        ("rejected", "one-data-one-source"),
        ("rejected", "entry-must-exist"),
        ("rejected", "sequence-out-of-order"),
        ("rejected", "actor-not-permitted"),
    ]


def test_a_taken_down_entry_frees_its_items_and_cannot_be_revised(service):
    first, second = new_id(), new_id()
    results = submit(
        service,
        registered(first, codes=["GD.FREE.1"]),
        event("EntryTakenDown", first, 2, {"reason": "merged into another entry"}),
        event("EntryRevised", first, 3, {"attributes": attributes(), "reason": "too late"}),
    ) + submit(service, registered(second, department="gd-psb", codes=["GD.FREE.1"]))
    assert [(r["status"], r.get("rule")) for r in results] == [
        ("accepted", None), ("accepted", None), ("rejected", "entry-taken-down"), ("accepted", None)]


def test_hebei_allows_one_extension_of_a_change_obligation(service):
    entry = new_id()
    hb = dict(department="hb-civil", policy="hebei-2023")
    auth = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
    results = submit(
        service,
        registered(entry, **hb),
        # Received two days ago: the service stamps the real time, and an extension is asked
        # while the limit still runs (extension-too-late otherwise).
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "DUTIES_CHANGED",
              "reference": "机构改革方案", "received_on": (date.today() - timedelta(days=2)).isoformat()},
              **auth),
        event("ExtensionRequested", entry, 3, {"obligation_id": "ob", "reason": "数据量大"}, **hb),
        event("ExtensionGranted", entry, 4, {"obligation_id": "ob"}, **auth),
        event("ExtensionRequested", entry, 5, {"obligation_id": "ob", "reason": "again"}, **hb),
    )
    assert [(r["status"], r.get("rule")) for r in results] == [
        ("accepted", None), ("accepted", None), ("accepted", None), ("accepted", None),
        ("rejected", "extension-limit")]
    assert "Hebei" in results[-1]["article"]


# --- catalog entries: completeness (issue #12)

def test_an_incomplete_entry_and_a_change_received_tomorrow_are_rejected_with_their_articles(service):
    entry, ningbo = new_id(), new_id()
    nb = dict(department="nb-market", policy="ningbo-haishu-2021")
    auth = dict(department="gd-authority", role="DATA_AUTHORITY")
    tomorrow = (date.today() + timedelta(days=2)).isoformat()  # ahead of Beijing time too
    results = submit(
        service,
        registered(ningbo, share_period=None, **nb),
        registered(entry, data_items=[{"code": "GD.B.1", "name": "姓名"}, {"code": "GD.B.1", "name": "名字"}]),
        registered(entry),
        event("ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
              "reference": "个人信息保护法修订", "received_on": tomorrow}, **auth),
    )
    assert [(r["status"], r.get("rule")) for r in results] == [
        ("rejected", "entry-attributes-required"), ("rejected", "data-item-duplicated"),
        ("accepted", None), ("rejected", "obligation-received-in-future")]
    assert results[0]["article"].startswith("Ningbo Art. 10") and "share_period" in results[0]["error"]
    assert results[3]["article"].startswith("GD-2018 Art. 9")
