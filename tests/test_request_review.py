"""Share requests: the review path happens in order (issue #12).

Joint review puts the provider's answer before the authority's approval; a refusal with a legal
basis is overturned only by deciding a dispute; only the data authority of the entry's
jurisdiction decides; a request names its purpose and business, asks for a period to come and a
method the entry offers; an exchange is always reviewed; a revocation is a refusal.

Every scenario runs on the in-memory harness (tests/harness.py), on both databases: the rules
are the validator's, and the answers a department gets (`govshare submit --json`) are read
from the same outputs there as on the service. No test here starts a service.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from events.codec import decode_message
from processors.profiles import Department, Policies, load_all
from processors.rules.working_days import end_of_day
from tests.builders import AUTH, LAW, PROVIDER, USER, approved, event, new_id, registered, request
from tests.harness import Harness, verdicts

NB = "ningbo-haishu-2021"
GD08 = "guangdong-2008"
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # Mon 2 Nov 2026, 10:00 in Guangdong
NB_AUTH = dict(department="nb-authority", role="DATA_AUTHORITY")
INTERNAL = {"kind": "INTERNAL_RULE", "title": "本厅数据管理办法", "article": "第5条"}


def rejection(output):
    return decode_message(output.headers, output.value).payload


def opened(harness):
    return [e.payload.request_id for e in harness.emitted("grant") if e.envelope.event_type == "GrantOpened"]


def conditional_entry(harness, *, policy="guangdong-2018", department="gd-hrss", methods=("INTERFACE",)):
    entry = new_id()
    outputs = harness.submit(registered(entry, department=department, policy=policy, codes=["I.1", "I.2"],
                                        share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批",
                                        share_methods=list(methods), restriction_reason="涉及个人信息"),
                             at=MON)
    assert verdicts(outputs) == ["accepted"]
    return entry


def consulted(req, seq=2, **actor):
    return event("ProviderConsulted", req, seq, {}, **(actor or AUTH))


def answered(req, seq, agrees, **extra):
    return event("ProviderAnswered", req, seq, {"agrees": agrees, **extra}, **PROVIDER)


# -- joint review: the provider's answer first --------------------------------------------

def test_an_approval_before_the_provider_agreed_is_refused_with_the_joint_review_article(harness):
    entry, req = conditional_entry(harness), new_id("req")
    outputs = harness.submit(request(req, entry), event("RequestApproved", req, 2, {}, **AUTH),
                             consulted(req), event("RequestApproved", req, 3, {}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "provider-agreement-first", "accepted", "provider-agreement-first"]
    assert "GD-2018 Art. 19" in rejection(outputs[1]).article
    assert opened(harness) == []


def test_a_refusal_with_a_legal_basis_is_overturned_only_by_deciding_a_dispute(harness):
    entry, req = conditional_entry(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry), consulted(req),
        answered(req, 3, False, legal_basis=LAW, reasons="涉及个人信息"),
        event("RequestApproved", req, 4, {"comment": "仍同意"}, **AUTH),
        event("RequestRejected", req, 4, {"reasons": "提供部门依法不同意"}, **AUTH),
        event("RequestDisputed", req, 5, {"reason": "办理审批必需"}, **USER),
        event("DisputeDecided", req, 6, {"outcome": "GRANT", "reasons": "经评判应当共享"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "accepted", "accepted", "provider-refusal-stands",
                                 "accepted", "accepted", "accepted"]
    assert opened(harness) == [req]


def test_a_new_consultation_asks_again_and_a_later_agreement_counts(harness):
    entry, req = conditional_entry(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry), consulted(req), answered(req, 3, False, legal_basis=LAW),
        consulted(req, 4), event("RequestApproved", req, 5, {}, **AUTH),
        answered(req, 5, True), event("RequestApproved", req, 6, {}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted"] * 4 + ["provider-agreement-first", "accepted", "accepted"]
    assert opened(harness) == [req]


def test_in_ningbo_the_authority_consults_and_approves_only_with_the_providers_consent(harness):
    entry = conditional_entry(harness, policy=NB, department="nb-market")
    req, nb_user, nb_provider = new_id("req"), dict(department="nb-civil", role="USER"), \
        dict(department="nb-market", role="PROVIDER")
    outputs = harness.submit(
        request(req, entry, policy=NB, user=nb_user),
        event("RequestApproved", req, 2, {}, policy=NB, **NB_AUTH),
        event("ProviderConsulted", req, 2, {}, policy=NB, **NB_AUTH),
        event("ProviderAnswered", req, 3, {"agrees": True}, policy=NB, **nb_provider),
        event("RequestApproved", req, 4, {}, policy=NB, **NB_AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "provider-agreement-first", "accepted", "accepted", "accepted"]
    assert "Ningbo Art. 17" in rejection(outputs[1]).article


# -- the authority of the entry's jurisdiction --------------------------------------------

def test_the_data_authority_of_another_jurisdiction_decides_nothing(harness):
    entry, req = conditional_entry(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry), consulted(req, policy=NB, **NB_AUTH), consulted(req),
        answered(req, 3, True),
        event("RequestApproved", req, 4, {}, policy=NB, **NB_AUTH),
        event("RequestRejected", req, 4, {"reasons": "不同意"}, policy=NB, **NB_AUTH),
        approved(req), at=MON)
    assert verdicts(outputs) == ["accepted", "authority-of-the-entry", "accepted", "accepted",
                                 "authority-of-the-entry", "authority-of-the-entry", "accepted"]
    refused = rejection(outputs[1])
    assert "GD-2018 Art. 19" in refused.article and "nb-authority" in refused.message
    revoke = harness.submit(event("GrantRevoked", req, 5, {"reason": "用途变更"}, policy=NB, **NB_AUTH), at=MON)
    assert verdicts(revoke) == ["authority-of-the-entry"]


# -- GD-2008: the provider answers within 15 working days ---------------------------------

def gd2008_policies() -> Policies:
    """The shipped directory has no department under the 2008 measures: one is added here."""
    shipped = load_all()
    departments = dict(shipped.departments)
    departments.update({
        "gd08-provider": Department("gd08-provider", "提供部门", GD08),
        "gd08-user": Department("gd08-user", "需求部门", GD08),
        "gd08-authority": Department("gd08-authority", "信息化主管部门", GD08, authority=True)})
    return Policies(shipped.profiles, departments, shipped.baseline)


GD08_USER, GD08_AUTH = dict(department="gd08-user", role="USER"), dict(department="gd08-authority",
                                                                       role="DATA_AUTHORITY")


@pytest.fixture
def gd2008(database_url, tmp_path):
    """A harness whose directory has departments under the 2008 measures."""
    found = Harness(database_url, tmp_path / "gd2008", policies=gd2008_policies())
    yield found
    found.sim.close()


def gd2008_request(harness, *after):
    """A conditional GD-2008 entry and a request for it, then `after`: the verdicts."""
    entry, req = new_id(), new_id("req")
    outputs = harness.submit(
        registered(entry, department="gd08-provider", policy=GD08, codes=["I.1"], share_type="CONDITIONAL",
                   legal_basis=LAW, share_conditions="仅限审批"),
        request(req, entry, policy=GD08, user=GD08_USER), *(step(req) for step in after), at=MON)
    return req, outputs


def test_under_the_2008_measures_the_provider_answers_a_request_within_15_working_days(gd2008):
    harness = gd2008
    _, outputs = gd2008_request(
        harness, lambda req: event("RequestApproved", req, 2, {}, policy=GD08, **GD08_AUTH))
    assert verdicts(outputs) == ["accepted", "accepted", "provider-agreement-first"]
    assert "GD-2008 Art. 21-22" in rejection(outputs[2]).article
    [answer] = [e.payload for e in harness.deadline_events()]
    assert (answer.kind, answer.party, answer.limit_days) == ("provider-answer", "gd08-provider", 15)
    assert answer.article.startswith("GD-2008 Art. 22")
    assert answer.due_at == end_of_day(date(2026, 11, 23), "Asia/Shanghai")  # 15 working days
    harness.advance(answer.due_at - timedelta(seconds=1))
    assert "RectificationOrdered" not in harness.types()
    harness.advance(answer.due_at)
    assert "RectificationOrdered" in harness.types()  # a provider's delay: GD-2008 Art. 40


def test_under_the_2008_measures_the_providers_answer_meets_its_limit(gd2008):
    harness = gd2008
    req, outputs = gd2008_request(
        harness,
        lambda req: event("ProviderAnswered", req, 2, {"agrees": True}, policy=GD08,
                          department="gd08-provider", role="PROVIDER"),
        lambda req: event("RequestApproved", req, 3, {"comment": "备案"}, policy=GD08, **GD08_AUTH))
    assert verdicts(outputs) == ["accepted"] * 4
    assert harness.types() == ["DeadlineScheduled", "DeadlineMet"]
    assert opened(harness) == [req]


# -- what a request must say ------------------------------------------------------------

@pytest.mark.parametrize("blank", [dict(purpose=""), dict(purpose=" \u3000\t"), dict(business_process="  ")])
def test_a_request_without_purpose_or_business_is_no_request_even_for_unconditional_data(harness, blank):
    entry = new_id()
    harness.given(registered(entry, codes=["I.1"]), at=MON)
    outputs = harness.submit(request(new_id("req"), entry, **blank), at=MON)
    assert verdicts(outputs) == ["purpose-required"]
    assert "GD-2018 Art. 16" in rejection(outputs[0]).article
    assert opened(harness) == []


def test_a_share_period_that_ended_before_the_request_arrived_is_no_request(harness):
    entry, ended, today = new_id(), new_id("req"), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), at=MON)
    outputs = harness.submit(request(ended, entry, period_end="2026-11-01"),
                             request(today, entry, period_end="2026-11-02"), at=MON)
    assert verdicts(outputs) == ["share-period-ended", "accepted"]
    assert opened(harness) == [today]


# -- the sharing method: what the entry offers, exchange reviewed --------------------------

def test_a_method_the_entry_does_not_offer_is_refused(harness):
    entry = new_id()
    harness.given(registered(entry, codes=["I.1"], share_methods=["INTERFACE"]), at=MON)
    outputs = harness.submit(request(new_id("req"), entry, method="EXCHANGE"), at=MON)
    assert verdicts(outputs) == ["method-not-offered"]
    assert opened(harness) == []


def test_an_exchange_of_unconditional_data_is_never_granted_automatically(harness):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"], share_methods=["INTERFACE", "EXCHANGE"]), at=MON)
    outputs = harness.submit(request(req, entry, method="EXCHANGE"), at=MON)
    assert verdicts(outputs) == ["accepted"]
    assert opened(harness) == []
    [decision] = [e.payload for e in harness.deadline_events()]
    assert (decision.kind, decision.party) == ("request-decision", "gd-authority")
    # Unconditional data: the provider cannot refuse it, so the authority decides the method alone.
    assert verdicts(harness.submit(approved(req) | {"sequence": 2}, at=MON)) == ["accepted"]
    [grant] = [e.payload for e in harness.emitted("grant") if e.envelope.event_type == "GrantOpened"]
    assert grant.method.value == "EXCHANGE" and not grant.automatic


def test_a_conditional_exchange_follows_the_joint_review(harness):
    entry, req = conditional_entry(harness, methods=("INTERFACE", "EXCHANGE")), new_id("req")
    outputs = harness.submit(request(req, entry, method="EXCHANGE"),
                             event("RequestApproved", req, 2, {}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "provider-agreement-first"]


# -- revocation is a refusal ----------------------------------------------------------------

def test_a_provider_revokes_only_with_a_legal_basis_and_the_authority_only_with_reasons(harness):
    entry, by_provider, by_authority = new_id(), new_id("req"), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), request(by_provider, entry), request(by_authority, entry), at=MON)
    assert sorted(opened(harness)) == sorted([by_provider, by_authority])
    outputs = harness.submit(
        event("GrantRevoked", by_provider, 2, {"reason": "不再提供"}, **PROVIDER),
        event("GrantRevoked", by_provider, 2, {"reason": "本厅规定", "legal_basis": INTERNAL}, **PROVIDER),
        event("GrantRevoked", by_provider, 2, {"reason": " ", "legal_basis": LAW}, **PROVIDER),
        event("GrantRevoked", by_provider, 2, {"reason": "涉及个人信息", "legal_basis": LAW}, **PROVIDER),
        event("GrantRevoked", by_authority, 2, {"reason": "\u3000"}, **AUTH),
        event("GrantRevoked", by_authority, 2, {"reason": "超出履职需要"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["refusal-needs-legal-basis", "refusal-needs-legal-basis",
                                 "revocation-needs-reasons", "accepted", "revocation-needs-reasons", "accepted"]
    assert "GD-2018 Art. 16" in rejection(outputs[0]).article


# -- the answers a department gets -------------------------------------------------------------

def test_a_department_is_answered_each_step_of_the_review_in_order(harness):
    """What `govshare submit --json` answers, line by line, as the review goes: an approval
    before the provider's answer, a refusal with a legal basis standing, another
    jurisdiction's authority consulting."""
    entry, req = new_id(), new_id("req")

    def send(*events):
        return [(r["status"], r.get("rule")) for r in harness.results(*events, at=MON)]
    assert send(registered(entry, codes=["I.1"], share_type="CONDITIONAL", legal_basis=LAW,
                           share_conditions="仅限审批")) == [("accepted", None)]
    results = send(request(req, entry), event("RequestApproved", req, 2, {}, **AUTH))
    results += send(consulted(req), answered(req, 3, False, legal_basis=LAW, reasons="涉及个人信息"),
                    event("RequestApproved", req, 4, {}, **AUTH))
    results += send(consulted(req, 4, policy=NB, **NB_AUTH))
    assert results == [
        ("accepted", None), ("rejected", "provider-agreement-first"), ("accepted", None), ("accepted", None),
        ("rejected", "provider-refusal-stands"), ("rejected", "authority-of-the-entry")]
