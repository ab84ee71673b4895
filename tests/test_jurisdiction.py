"""A subject is judged under its own jurisdiction (issue #12): an entry's revision, limits and
objections follow the entry's profile, whoever acts, and only the data authority of that
jurisdiction decides on them. Requests: tests/test_request_review.py.

Every scenario runs on the in-memory harness (tests/harness.py), on both databases; the answers
a department gets are those `govshare submit --json` prints. No test here starts a service.
"""
from __future__ import annotations

from datetime import datetime, timezone

from events.codec import decode_message
from tests.builders import LAW, attributes, event, new_id, registered
from tests.harness import verdicts

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # Monday 2 Nov 2026, 10:00 in China
NB = "ningbo-haishu-2021"
GD_AUTH = dict(department="gd-authority", role="DATA_AUTHORITY", policy="guangdong-2018")
HB_AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
NB_AUTH = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)


def rules_broken(outputs) -> list[tuple[str, str]]:
    found = [decode_message(o.headers, o.value).payload for o in outputs]
    return [(getattr(p, "rule", "accepted"), getattr(p, "article", "")) for p in found]


def test_a_revision_is_approved_only_by_the_authority_of_the_entrys_jurisdiction(harness):
    entry = new_id()
    submitted = event("RevisionSubmitted", entry, 2, {"revision_id": "r1", "attributes": attributes()},
                      department="gd-hrss")
    assert verdicts(harness.submit(registered(entry), submitted, at=MON)) == ["accepted", "accepted"]
    foreign = harness.submit(event("RevisionApproved", entry, 3, {"revision_id": "r1"}, **HB_AUTH), at=MON)
    [(rule, article)] = rules_broken(foreign)
    assert rule == "authority-of-the-entry" and article
    own = harness.submit(event("RevisionApproved", entry, 3, {"revision_id": "r1"}, **GD_AUTH), at=MON)
    assert verdicts(own) == ["accepted"]


def test_an_authority_cannot_raise_a_change_obligation_on_another_jurisdictions_entry(harness):
    """The measured case: a Guangdong authority raised one on a Hebei entry and got GD-2018's
    15 working days instead of Hebei's 10."""
    entry = new_id()
    assert verdicts(harness.submit(registered(entry, department="hb-civil", policy="hebei-2023"), at=MON)) \
        == ["accepted"]
    raised = {"obligation_id": "ob", "trigger": "DUTIES_CHANGED", "reference": "机构改革",
              "received_on": "2026-11-02"}
    [(rule, _)] = rules_broken(harness.submit(event("ChangeObligationRaised", entry, 2, raised, **GD_AUTH), at=MON))
    assert rule == "authority-of-the-entry"
    assert verdicts(harness.submit(event("ChangeObligationRaised", entry, 2, raised, **HB_AUTH), at=MON)) \
        == ["accepted"]
    [scheduled] = harness.deadline_events()
    assert scheduled.payload.limit_days == 10 and "Hebei" in scheduled.payload.article


def test_problem_data_is_processed_under_the_entrys_jurisdiction_whoever_reports_it(harness):
    entry = new_id()
    assert verdicts(harness.submit(registered(entry, department="nb-market", policy=NB), at=MON)) == ["accepted"]
    objection = new_id("objection")
    # A Guangdong department, acting under its own profile, reports problem data of a Ningbo entry.
    reported = event("ObjectionReported", objection, 1, {
        "entry_id": entry, "kind": "ERROR", "records": ["r1"], "fields": ["f1"], "expected": "x",
        "urgent": True}, department="gd-amr", role="USER", policy="guangdong-2018")
    outputs = harness.submit(reported, at=MON)
    assert verdicts(outputs) == ["accepted"]
    accepted = decode_message(outputs[0].headers, outputs[0].value)
    assert accepted.envelope.policy_id == NB, "judged, and on record, under the entry's profile"
    [scheduled] = harness.deadline_events()
    assert scheduled.envelope.policy_id == NB and "Ningbo" in scheduled.payload.article
    assert scheduled.payload.party == "nb-market"

    # Its urgent limit is the Ningbo authority's to set; Guangdong's decides nothing here.
    limit = {"due_at": "2026-11-04T18:00:00+08:00", "reason": "急用"}
    [(rule, _)] = rules_broken(harness.submit(event("UrgentLimitSet", objection, 2, limit, **GD_AUTH), at=MON))
    assert rule == "authority-of-the-entry"
    assert verdicts(harness.submit(event("UrgentLimitSet", objection, 2, limit, **NB_AUTH), at=MON)) == ["accepted"]


def test_a_refusal_cites_a_basis_with_a_title_and_an_article(harness):
    """A legal basis is a citation: blanks are none (GD-2018 Art. 16)."""
    from tests.builders import AUTH, PROVIDER, request
    entry = new_id()
    assert verdicts(harness.submit(registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                                              share_conditions="仅限审批"), at=MON)) == ["accepted"]
    req = new_id("req")
    consulted = event("ProviderConsulted", req, 2, {}, **AUTH)
    assert verdicts(harness.submit(request(req, entry, items=["I.1"]), consulted, at=MON)) == ["accepted", "accepted"]
    blank = {"kind": "LAW", "title": "  ", "article": ""}
    [(rule, _)] = rules_broken(harness.submit(event("ProviderAnswered", req, 3, {
        "agrees": False, "reasons": "涉密", "legal_basis": blank}, **PROVIDER), at=MON))
    assert rule == "refusal-needs-legal-basis"


def test_each_rule_a_department_trips_over_answers_with_its_article(harness):
    """As an integrator meets it: each point of issue #12 that a department can trip over is
    refused with its rule and the article of the profile that judged it."""
    from projections import queries
    from tests.builders import AUTH, PROVIDER, USER, request

    def submitted(*events):
        return [(r["status"], r.get("rule"), r.get("article")) for r in harness.results(*events, at=MON)]

    gd, nb = new_id(), new_id()
    assert submitted(registered(gd, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                                share_conditions="仅限审批"),
                     registered(nb, department="nb-market", policy=NB)) == [("accepted", None, None)] * 2
    req, objection = new_id("req"), new_id("objection")
    answers = submitted(
        event("RevisionSubmitted", gd, 2, {"revision_id": "r1", "attributes": attributes(
            codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批")}),
        event("RevisionApproved", gd, 3, {"revision_id": "r1"}, **HB_AUTH),
        request(new_id("req"), gd, method="EXCHANGE"),
        request(new_id("req"), gd, period_end="2026-01-31"),
        request(new_id("req"), gd, purpose="  "),
        request(req, gd), event("ProviderConsulted", req, 2, {}, **AUTH),
        event("ProviderAnswered", req, 3, {"agrees": False, "reasons": "涉密",
                                           "legal_basis": {"kind": "LAW", "title": "", "article": ""}}, **PROVIDER),
        event("DataAccessed", new_id("access"), 1, {"entry_id": gd, "items": ["I.1"], "purpose": "p",
                                                     "recipient": "gd-amr", "person": "sys-01"}, **USER),
        event("ObjectionReported", objection, 1, {"entry_id": nb, "kind": "ERROR", "records": ["r"],
                                                  "fields": ["f"], "expected": "x"}, **USER))
    rules = [rule for _, rule, _ in answers]
    assert rules == [None, "authority-of-the-entry", "method-not-offered", "share-period-ended",
                     "purpose-required", None, None, "refusal-needs-legal-basis", "access-details-required", None]
    assert all(article for status, _, article in answers if status == "rejected")
    # The objection runs under Ningbo's measures: its processing limit is theirs, for its provider.
    [limit] = [d for d in queries.deadline_list(harness.engine) if d["subject_id"] == objection]
    assert limit["policy_id"] == NB and limit["party"] == "nb-market" and "Ningbo" in limit["article"]
