"""Classification and grading (#25 item 1; Hebei 安全等级, GD-2018 Art. 27 分级管理): every graded
entry names one of its profile's grades, and is catalogued and shared only as that grade allows
(share types, methods, an automatic grant, a desensitized provision: policy data, common.toml
[grades]). Classified data (涉密) is outside the platform (GD-2018 Art. 2; Ningbo Art. 36; State
Council 2016 Art. 5). On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.builders import LAW, attributes, event, new_id, registered, request

NB = "ningbo-haishu-2021"
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)


def opened(harness) -> set[str]:
    """The requests a grant was opened for."""
    return {e.payload.request_id for e in harness.emitted("grant") if e.envelope.event_type == "GrantOpened"}


def test_an_entry_names_a_grade_of_its_profile_and_classified_data_is_not_catalogued(harness):
    # When Guangdong, Ningbo and Hebei providers register entries of an unknown grade, of
    # classified data, and of the highest grade declared unconditional or exchanged
    unknown, classified_gd, classified_nb, top_unconditional, top_exchanged, revised = harness.when(
        registered(new_id(), security_level="绝密级"),
        registered(new_id(), security_level="CLASSIFIED"),
        registered(new_id(), department="nb-market", policy=NB, security_level="CLASSIFIED"),
        registered(new_id(), security_level="L4"),
        registered(new_id(), security_level="L4", share_type="CONDITIONAL", share_conditions="仅限执法",
                   legal_basis=LAW, share_methods=["EXCHANGE"]),
        registered(new_id(), department="hb-psb", policy="hebei-2023", security_level="L9"), at=MON)
    # Then each is refused, citing its own jurisdiction's text
    assert (unknown["rule"], unknown["article"]) == (
        "security-grade-unknown", "GD-2018 Art. 27 (承担本部门业务数据的安全分级分类)")
    assert "'绝密级' is none of L1, L2, L3, L4, CLASSIFIED" in unknown["error"]
    assert (classified_gd["rule"], classified_gd["article"]) == (
        "classified-data-excluded", "GD-2018 Art. 2 (非涉密政务数据资源管理活动)")
    assert classified_nb["rule"] == "classified-data-excluded" and classified_nb["article"].startswith("Ningbo Art. 36")
    assert (top_unconditional["rule"], top_unconditional["article"]) == (
        "security-grade-not-allowed", "GD-2018 Art. 27 (政务数据资源安全管理实行统一领导和分级管理)")
    assert "not UNCONDITIONAL" in top_unconditional["error"]
    assert top_exchanged["rule"] == "security-grade-not-allowed" and "EXCHANGE" in top_exchanged["error"]
    assert (revised["rule"], revised["article"]) == ("security-grade-unknown",
                                                     "Hebei Measures (政务数据目录应当明确…安全等级)")


def test_a_revision_cannot_move_an_entry_into_a_grade_that_forbids_what_it_offers(harness):
    # Given an unconditional entry of grade L2
    entry = new_id()
    harness.given(registered(entry, codes=["G.1"]), at=MON)
    # When the provider revises it to L4, then to classified, then to L3 on conditions
    to_top, to_secret, to_l3 = harness.when(
        event("EntryRevised", entry, 2, {"attributes": attributes(codes=["G.1"], security_level="L4"),
                                         "reason": "定级调整"}),
        event("EntryRevised", entry, 2, {"attributes": attributes(codes=["G.1"], security_level="CLASSIFIED"),
                                         "reason": "定级调整"}),
        event("EntryRevised", entry, 2, {"attributes": attributes(
            codes=["G.1"], security_level="L3", share_type="CONDITIONAL", share_conditions="仅限审批核验",
            legal_basis=LAW), "reason": "定级调整"}), at=MON)
    # Then the first two are refused and the third stands
    assert [to_top["rule"], to_secret["rule"], to_l3["status"]] == [
        "security-grade-not-allowed", "classified-data-excluded", "accepted"]


def test_only_a_grade_that_allows_it_is_granted_automatically_or_provided_desensitized(harness):
    # Given unconditional entries of grades L2 and L3, and non-shareable ones of grades L3 and L4
    low, sensitive, closed_l3, closed_l4 = new_id(), new_id(), new_id(), new_id()
    closed = dict(share_type="NON_SHAREABLE", legal_basis=LAW)
    harness.given(registered(low, codes=["L.1"]), registered(sensitive, codes=["S.1"], security_level="L3"),
                  registered(closed_l3, codes=["C.1"], security_level="L3", **closed),
                  registered(closed_l4, codes=["D.1"], security_level="L4", **closed), at=MON)
    # When a using department requests each
    low_req, sensitive_req, l3_req, l4_req = (new_id("req") for _ in range(4))
    answers = harness.when(request(low_req, low, ["L.1"]), request(sensitive_req, sensitive, ["S.1"]),
                           request(l3_req, closed_l3, ["C.1"], desensitized=True),
                           request(l4_req, closed_l4, ["D.1"], desensitized=True), at=MON)
    # Then L2 is granted on request, L3 waits for the data authority's review although
    # unconditional, L3's non-shareable data may be asked desensitized and L4's may not
    assert [a["status"] for a in answers] == ["accepted", "accepted", "accepted", "rejected"]
    assert (answers[3]["rule"], answers[3]["article"]) == (
        "security-grade-not-allowed", "GD-2018 Art. 27 (政务数据资源安全管理实行统一领导和分级管理)")
    assert low_req in opened(harness) and sensitive_req not in opened(harness)
    # and the reviewed one is granted once the authority approves it (no provider agreement:
    # the data is unconditional)
    harness.given(event("RequestApproved", sensitive_req, 2, {"comment": "同意"},
                        department="gd-authority", role="DATA_AUTHORITY"), at=MON)
    assert sensitive_req in opened(harness)
