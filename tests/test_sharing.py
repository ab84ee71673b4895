"""Share requests, grants and usage, each path through every stage on the in-memory runner
(tests/harness.py) over SQLite and PostgreSQL, and `govshare query requests|grants|problems`
over what they projected. None starts a service: nothing here is about processes or the broker.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from events.codec import decode_message
from processors.rules.working_days import end_of_day
from projections import queries
from tests.builders import (
    AUTH,
    LAW,
    PROVIDER,
    USER,
    approved,
    attributes,
    event,
    new_id,
    registered,
    request,
    reviewed,
)
from tests.harness import verdicts

NB = "ningbo-haishu-2021"
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)


def grants(harness):
    return [e.payload for e in harness.emitted("grant") if e.envelope.event_type == "GrantOpened"]


def test_an_unconditional_entry_is_granted_automatically_and_recorded(harness):
    entry, req = new_id(), new_id("req")
    outputs = harness.submit(registered(entry, codes=["I.1", "I.2"]),
                             request(req, entry, ["I.1"], period_end="2026-12-31"), at=MON)
    assert verdicts(outputs) == ["accepted", "accepted"]
    [grant] = grants(harness)
    assert (grant.request_id, grant.grantee, grant.items) == (req, "gd-amr", ("I.1",))
    assert grant.valid_until == end_of_day(date(2026, 12, 31), "Asia/Shanghai")


def conditional(harness, **extra):
    entry = new_id()
    harness.given(registered(entry, codes=["I.1", "I.2"], share_type="CONDITIONAL", legal_basis=LAW,
                             share_conditions="仅限审批", **extra), at=MON)
    return entry


def test_a_conditional_request_approved_within_the_limit_opens_exactly_what_was_asked(harness):
    entry, req = conditional(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry, ["I.2"]),
        event("ProviderConsulted", req, 2, {}, **AUTH),
        event("ProviderAnswered", req, 3, {"agrees": True}, **PROVIDER),
        event("RequestApproved", req, 4, {"comment": "同意"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted"] * 4
    [grant] = grants(harness)
    assert (grant.items, grant.purpose, grant.scenario, grant.method.value) == (
        ("I.2",), "企业开办审批", "一网通办", "INTERFACE")
    decision = [e.payload for e in harness.deadline_events()]
    assert decision[0].kind == "request-decision" and decision[0].article == "GD-2018 Art. 19"
    assert decision[0].due_at == end_of_day(date(2026, 11, 16), "Asia/Shanghai")  # 10 wd
    assert harness.types()[-1] == "DeadlineMet"


def test_a_refusal_needs_a_legal_basis_and_a_rejection_needs_reasons(harness):
    entry, req = conditional(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry),
        event("ProviderAnswered", req, 2, {"agrees": False, "reasons": "不想给"}, **PROVIDER),
        event("ProviderAnswered", req, 2, {"agrees": False, "legal_basis": LAW, "reasons": "涉及个人信息"}, **PROVIDER),
        event("RequestRejected", req, 3, {"reasons": " "}, **AUTH),
        event("RequestRejected", req, 3, {"reasons": "超出履职需要"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "refusal-needs-legal-basis", "accepted",
                                 "rejection-needs-reasons", "accepted"]
    assert grants(harness) == []


def test_a_dispute_escalated_goes_to_the_problem_list(harness):
    entry, req = conditional(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry),
        event("RequestDisputed", req, 2, {"reason": "too early"}, **USER),
        event("RequestRejected", req, 2, {"reasons": "依据不足"}, **AUTH),
        event("RequestDisputed", req, 3, {"reason": "属于应当共享的数据"}, **USER),
        event("DisputeDecided", req, 4, {"outcome": "ESCALATE", "reasons": "提交领导小组"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "dispute-needs-refusal", "accepted", "accepted", "accepted"]
    engine = harness.project()
    [problem] = queries.problem_list(engine)
    assert (problem["request_id"], problem["escalated_to"]) == (req, "leadership group")
    [row] = queries.request_list(engine)
    assert (row["status"], row["next_actor"]) == ("escalated", "leadership group")


def test_the_leadership_group_decides_an_escalated_problem_and_it_leaves_the_list(harness):
    """Ningbo Art. 18: a dispute the authority cannot settle goes on the problem list, up to the
    district's leadership group (its office, nb-leadership), whose decision closes it."""
    nb_auth = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)
    leadership = dict(department="nb-leadership", role="LEADERSHIP_GROUP", policy=NB)
    # Given a Ningbo request refused on the provider's legal basis, disputed and escalated
    entry, req, other = new_id(), new_id("req"), new_id("req")
    harness.given(registered(entry, department="nb-market", policy=NB, codes=["N.1"], share_type="CONDITIONAL",
                             legal_basis=LAW, share_conditions="仅限执法", restriction_reason="涉及个人信息"), at=MON)
    nb_user = dict(department="nb-health", role="USER")
    for r in (req, other):
        harness.given(request(r, entry, ("N.1",), policy=NB, user=nb_user), at=MON)
    early = harness.results(event("LeadershipDecided", req, 2, {"outcome": "GRANT", "reasons": "应当共享"},
                                  **leadership), at=MON)
    harness.given(*[e for r in (req, other) for e in (
        event("ProviderConsulted", r, 2, {}, **nb_auth),
        event("ProviderAnswered", r, 3, {"agrees": False, "legal_basis": LAW}, department="nb-market",
              role="PROVIDER", policy=NB),
        event("RequestRejected", r, 4, {"reasons": "提供部门依法不同意共享"}, **nb_auth),
        event("RequestDisputed", r, 5, {"reason": "执法需要"}, **nb_user, policy=NB),
        event("DisputeDecided", r, 6, {"outcome": "ESCALATE", "reasons": "提交领导小组协调"}, **nb_auth))],
        at=MON + timedelta(days=1))
    # When the authority, then the leadership group without reasons, then with them, decide
    by_authority, no_reasons, granted, upheld, again = harness.results(
        event("LeadershipDecided", req, 7, {"outcome": "GRANT", "reasons": "应当共享"}, **nb_auth),
        event("LeadershipDecided", req, 7, {"outcome": "GRANT", "reasons": " "}, **leadership),
        event("LeadershipDecided", req, 7, {"outcome": "GRANT", "reasons": "属于无条件共享范围，应当共享"}, **leadership),
        event("LeadershipDecided", other, 7, {"outcome": "UPHOLD_REFUSAL", "reasons": "涉及个人隐私，维持不予共享"},
              **leadership),
        event("LeadershipDecided", req, 8, {"outcome": "UPHOLD_REFUSAL", "reasons": "改判"}, **leadership),
        at=MON + timedelta(days=2))
    # Then only the leadership group decides, with reasons, once, and only what was escalated
    assert (early[0]["rule"], early[0]["article"].split(" (")[0]) == ("problem-must-be-escalated", "Ningbo Art. 18")
    assert by_authority["rule"] == "actor-not-permitted"
    assert no_reasons["rule"] == "leadership-reasons-required"
    assert granted["status"] == upheld["status"] == "accepted"
    assert again["rule"] == "problem-must-be-escalated"
    # and its grant opens the requested items, its refusal stands
    [opened] = grants(harness)
    assert (opened.request_id, opened.items) == (req, ("N.1",))
    engine = harness.project()
    decided = {p["request_id"]: p["outcome"] for p in queries.problem_list(engine)}
    assert decided == {req: "GRANT", other: "UPHOLD_REFUSAL"}
    assert queries.problem_list(engine, undecided=True) == []
    statuses = {r["request_id"]: (r["status"], r["next_actor"]) for r in queries.request_list(engine)}
    assert statuses == {req: ("granted", None), other: ("refused", None)}


def test_a_provider_that_does_not_answer_in_time_is_in_breach(harness):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, department="nb-market", policy=NB, codes=["I.1"],
                             share_type="CONDITIONAL", legal_basis=LAW, share_conditions="c",
                             restriction_reason="涉及个人信息"), at=MON)
    nb_user = dict(department="nb-civil", role="USER")
    harness.given(request(req, entry, policy=NB, user=nb_user),
                  event("ProviderConsulted", req, 2, {}, department="nb-authority",
                        role="DATA_AUTHORITY", policy=NB), at=MON)
    [answer] = [e.payload for e in harness.deadline_events() if e.payload.kind == "provider-answer"]
    assert answer.party == "nb-market" and answer.article == "Ningbo Art. 17 (5个工作日内答复)"
    harness.advance(answer.due_at - timedelta(seconds=1))
    assert "DeadlineBreached" not in harness.types()
    harness.advance(answer.due_at)
    assert "DeadlineBreached" in harness.types() and "RectificationOrdered" in harness.types()


def test_non_shareable_is_rejected_unless_desensitized_provision_is_asked(harness):
    entry = new_id()
    harness.given(registered(entry, codes=["I.1"], share_type="NON_SHAREABLE", legal_basis=LAW), at=MON)
    plain, desensitized = new_id("req"), new_id("req")
    # The provider desensitizes its own non-shareable data: it agrees before the approval.
    outputs = harness.submit(request(plain, entry), request(desensitized, entry, desensitized=True),
                             *reviewed(desensitized), approved(desensitized), at=MON)
    assert verdicts(outputs) == ["non-shareable", "accepted", "accepted", "accepted", "accepted"]
    rejected = decode_message(outputs[0].headers, outputs[0].value).payload
    assert rejected.article == "GD-2018 Art. 18 (不宜提供给其他政务部门共享使用)"
    [grant] = grants(harness)
    assert grant.desensitized and grant.request_id == desensitized


def test_no_grant_for_items_the_entry_does_not_have(harness):
    entry = new_id()
    harness.given(registered(entry, codes=["I.1"]), at=MON)
    assert verdicts(harness.submit(request(new_id("req"), entry, ["I.9"]), at=MON)) == ["items-not-in-entry"]
    assert grants(harness) == []


def access(access_id, grant_id, items=("I.1",), purpose="企业开办审批", recipient="gd-amr", *, entry,
           method="INTERFACE", scenario="一网通办", **actor):
    return event("DataAccessed", access_id, 1, {"grant_id": grant_id, "entry_id": entry, "items": list(items),
                 "purpose": purpose, "recipient": recipient, "person": "sys-01", "method": method,
                 "scenario": scenario}, **(actor or USER))


def test_an_access_outside_the_grant_is_flagged_and_still_kept(harness):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1", "I.2"]), request(req, entry, ["I.1"]), at=MON)
    [grant_id] = [e.envelope.aggregate_id for e in harness.emitted("grant")]
    fine, wide, elsewhere, none = (new_id("acc") for _ in range(4))
    outputs = harness.submit(access(fine, grant_id, entry=entry),
                             access(wide, grant_id, ["I.1", "I.2"], "营销", entry=entry),
                             access(elsewhere, grant_id, recipient="third-co", entry=entry),
                             access(none, None, entry=entry),
                             at=MON + timedelta(hours=1))
    assert verdicts(outputs) == ["accepted"] * 4
    flagged = {e.payload.access_id: set(e.payload.violations) for e in harness.emitted("usage-supervision")}
    assert flagged == {wide: {"items-outside-grant", "other-purpose"}, elsewhere: {"third-party"},
                       none: {"no-grant"}}
    engine = harness.project()
    assert len(queries.access_list(engine)) == 4
    assert {r["access_id"] for r in queries.access_list(engine, violations_only=True)} == {wide, elsewhere, none}
    # each flagged use is on the supervision list, with its order to correct (GD-2008 Art. 40)
    actions = [(a["action"], a["party"]) for a in queries.supervision(engine)]
    assert sorted(actions) == [("rectification-ordered", "gd-amr")] * 3 + [("usage-violation", "gd-amr")] * 3


def test_data_goes_abroad_only_once_the_authority_recorded_a_security_assessment(harness):
    """Ningbo Art. 32: 公共数据不得跨境流通; where the business truly needs it, only after a security
    assessment (安全评估审核). Guangdong's text is silent: the platform rule after it applies."""
    nb_auth = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)
    nb_user = dict(department="nb-civil", role="USER")
    # Given a Ningbo grant, and a Guangdong one, both of unconditional data
    nb_entry, nb_req, gd_entry, gd_req = new_id(), new_id("req"), new_id(), new_id("req")
    harness.given(registered(nb_entry, department="nb-market", policy=NB, codes=["N.1"]),
                  registered(gd_entry, codes=["I.1"]), at=MON)
    harness.given(request(nb_req, nb_entry, ("N.1",), policy=NB, user=nb_user), request(gd_req, gd_entry), at=MON)
    grant_of = {e.payload.request_id: e.envelope.aggregate_id for e in harness.emitted("grant")
                if e.envelope.event_type == "GrantOpened"}

    def abroad(grant_request, entry, items, **actor):
        payload = access(new_id("acc"), grant_of[grant_request], items, entry=entry, **actor)
        payload["payload"] |= {"abroad": True, "recipient": actor.get("department", "gd-amr")}
        return payload
    # When each is used abroad before any assessment, then Ningbo's after its authority's
    early = harness.when(abroad(nb_req, nb_entry, ("N.1",), **nb_user, policy=NB),
                         abroad(gd_req, gd_entry, ("I.1",)), at=MON + timedelta(hours=1))
    assessed, unnamed, not_theirs = harness.when(
        event("CrossBorderAssessed", nb_req, 2, {"reference": "甬网信评〔2026〕12号", "conclusion": "风险可控"},
              **nb_auth),
        event("CrossBorderAssessed", gd_req, 2, {"reference": " ", "conclusion": "x"}, **AUTH),
        event("CrossBorderAssessed", gd_req, 2, {"reference": "甬网信评〔2026〕13号", "conclusion": "x"}, **nb_auth),
        at=MON + timedelta(hours=2))
    later = harness.when(abroad(nb_req, nb_entry, ("N.1",), **nb_user, policy=NB), at=MON + timedelta(hours=3))
    # Then every use is recorded; those abroad before an assessment are flagged, each citing its
    # jurisdiction's article, and Ningbo's after the assessment is not
    assert [r["status"] for r in early + later] == ["accepted"] * 3
    assert assessed["status"] == "accepted"
    assert unnamed["rule"] == "assessment-reference-required"
    assert not_theirs["rule"] == "authority-of-the-entry"
    flagged = {e.payload.access_id: e.payload for e in harness.emitted("usage-supervision")}
    nb_early, gd_early, nb_later = (r["aggregate_id"] for r in early + later)
    assert set(flagged) == {nb_early, gd_early}
    assert flagged[nb_early].violations == ("cross-border-unassessed",)
    assert "Ningbo Art. 32" in flagged[nb_early].article
    assert flagged[gd_early].article == "govshare platform rule"
    engine = harness.project()
    [row] = [r for r in queries.request_list(engine) if r["request_id"] == nb_req]
    assert row["cross_border_assessment"] == "甬网信评〔2026〕12号"


def test_a_grant_expires_at_the_end_of_its_period_and_revoked_ones_flag_use(harness):
    entry, kept, revoked = new_id(), new_id("req"), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), request(kept, entry, period_end="2026-12-31"),
                  request(revoked, entry, period_end="2026-12-31"), at=MON)
    harness.given(event("GrantRevoked", revoked, 2, {"reason": "用途变更"}, **AUTH), at=MON)
    revoked_grant = next(g.envelope.aggregate_id for g in harness.emitted("grant")
                         if getattr(g.payload, "request_id", None) == revoked)
    harness.given(access(new_id("acc"), revoked_grant, entry=entry), at=MON + timedelta(days=1))
    assert set(harness.emitted("usage-supervision")[-1].payload.violations) == {"grant-revoked"}

    end = end_of_day(date(2026, 12, 31), "Asia/Shanghai")

    def expired():
        return [e for e in harness.emitted("grant") if e.envelope.event_type == "GrantExpired"]
    harness.advance(end - timedelta(seconds=1))
    assert expired() == []
    harness.advance(end)
    assert [e.envelope.aggregate_id for e in expired()] == [g.envelope.aggregate_id for g in harness.emitted("grant")
                                                           if g.payload.__class__.__name__ == "GrantOpened"
                                                           and g.payload.request_id == kept]


def test_the_query_command_shows_requests_grants_and_problems(harness):
    entry, auto = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), request(auto, entry), at=MON)

    def cli(*args):
        return json.loads(harness.cli("query", *args, "--json").stdout)
    [req] = cli("requests")
    assert (req["request_id"], req["path"], req["status"], req["next_actor"]) == (auto, "auto", "granted", None)
    [grant] = cli("grants")
    assert grant["request_id"] == auto and grant["status"] == "open" and grant["grantee"] == "gd-amr"
    assert cli("problems") == []


def test_a_review_step_for_a_request_never_submitted_is_rejected_not_dead_lettered(harness):
    outputs = harness.submit(event("ProviderConsulted", new_id("req"), 2, {}, **AUTH), at=MON)
    [verdict] = verdicts(outputs)
    assert verdict == "request-must-exist"


def test_an_access_that_does_not_state_its_method_and_scenario_is_refused(harness):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), request(req, entry), at=MON)
    [grant_id] = [e.envelope.aggregate_id for e in harness.emitted("grant")]
    unstated = access(new_id("acc"), grant_id, entry=entry, method=None, scenario="")
    outputs = harness.submit(unstated, at=MON + timedelta(hours=1))
    assert verdicts(outputs) == ["access-details-required"]
    rejected = decode_message(outputs[0].headers, outputs[0].value).payload
    assert rejected.article.startswith("GD-2018 Art. 21") and "scenario, method" in rejected.message


def test_use_of_another_entry_method_or_scenario_or_before_the_grant_is_flagged(harness):
    """Hebei: 严格按照申请的应用场景使用，不得扩大使用范围、改变使用用途、变更使用方式."""
    entry, other, req = conditional(harness), new_id(), new_id("req")
    harness.given(registered(other, codes=["O.1"]), request(req, entry, ["I.1"]), at=MON)
    early = new_id("acc")
    # An access recorded while the request is still under review waits for the decision ...
    harness.given(access(early, _grant_of(req), entry=entry), at=MON)
    harness.given(event("ProviderConsulted", req, 2, {}, **AUTH),
                  event("ProviderAnswered", req, 3, {"agrees": True}, **PROVIDER),
                  event("RequestApproved", req, 4, {"comment": "同意"}, **AUTH), at=MON + timedelta(hours=2))
    grant_id = _grant_of(req)
    wrong_entry, by_exchange, elsewhere = (new_id("acc") for _ in range(3))
    harness.given(access(wrong_entry, grant_id, entry=other),
                  access(by_exchange, grant_id, entry=entry, method="EXCHANGE"),
                  access(elsewhere, grant_id, entry=entry, scenario="营销分析"), at=MON + timedelta(hours=3))
    flagged = {e.payload.access_id: e.payload for e in harness.emitted("usage-supervision")}
    # ... and is then judged against the grant as opened: it came before it.
    assert flagged[early].violations == ("before-grant",)
    assert "GD-2018 Art. 19" in flagged[early].article
    assert flagged[wrong_entry].violations == ("other-entry",)
    assert flagged[by_exchange].violations == ("other-method",)
    assert flagged[elsewhere].violations == ("other-scenario",)
    assert flagged[elsewhere].article.startswith("GD-2018 Art. 16")


def _grant_of(request_id):
    from processors.grant_keeper import grant_id
    return grant_id(request_id)


def test_a_revision_narrows_the_grant_and_a_takedown_withdraws_it(harness):
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1", "I.2"]), request(req, entry, ["I.1", "I.2"]), at=MON)
    grant_id = _grant_of(req)
    revised = event("EntryRevised", entry, 2, {"attributes": attributes(codes=["I.1"]), "reason": "数据项调整"})
    harness.given(revised, at=MON + timedelta(hours=1))
    narrowed = harness.emitted("grant")[-1].payload
    assert (type(narrowed).__name__, narrowed.items, narrowed.removed) == ("GrantNarrowed", ("I.1",), ("I.2",))
    removed_item, kept_item = new_id("acc"), new_id("acc")
    harness.given(access(removed_item, grant_id, ["I.2"], entry=entry), access(kept_item, grant_id, entry=entry),
                  at=MON + timedelta(hours=2))
    assert {e.payload.access_id: e.payload.violations for e in harness.emitted("usage-supervision")} == {
        removed_item: ("items-outside-grant",)}
    harness.given(event("EntryTakenDown", entry, 3, {"reason": "系统停用"}), at=MON + timedelta(hours=3))
    assert type(harness.emitted("grant")[-1].payload).__name__ == "GrantWithdrawn"
    after = new_id("acc")
    harness.given(access(after, grant_id, entry=entry), at=MON + timedelta(hours=4))
    last = harness.emitted("usage-supervision")[-1].payload
    assert (last.access_id, last.violations) == (after, ("grant-withdrawn",))
    assert "State Council 2016 Art. 9" in last.article


def test_the_requester_may_withdraw_a_waiting_request_and_its_limits_end(harness):
    entry, req = conditional(harness), new_id("req")
    outputs = harness.submit(
        request(req, entry),
        event("ProviderConsulted", req, 2, {}, **AUTH),
        event("RequestWithdrawn", req, 3, {"reason": "业务调整"}, department="gd-hrss", role="USER"),
        event("RequestWithdrawn", req, 3, {"reason": "业务调整"}, **USER),
        event("RequestApproved", req, 4, {"comment": "同意"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "accepted", "actor-not-permitted", "accepted",
                                 "request-not-pending"]
    assert grants(harness) == []
    kinds = {e.envelope.aggregate_id: e.payload.kind for e in harness.deadline_events()
             if e.envelope.event_type == "DeadlineScheduled"}
    cancelled = {kinds[e.envelope.aggregate_id] for e in harness.deadline_events()
                 if e.envelope.event_type == "DeadlineCancelled"}
    assert cancelled == {"request-decision"}
    harness.advance(MON + timedelta(days=60))
    assert "DeadlineBreached" not in harness.types()
    [row] = queries.request_list(harness.project())
    assert (row["status"], row["next_actor"]) == ("retracted", None)


def test_a_decided_request_cannot_be_withdrawn(harness):
    entry, req = new_id(), new_id("req")
    outputs = harness.submit(registered(entry, codes=["I.1"]), request(req, entry, ["I.1"]),
                             event("RequestWithdrawn", req, 2, {}, **USER), at=MON)
    assert verdicts(outputs) == ["accepted", "accepted", "request-not-pending"]
    assert len(grants(harness)) == 1
