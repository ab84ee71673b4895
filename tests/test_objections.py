"""Problem data: reported, processed within 5 working days, corrected and shared again; each
path through every stage on the in-memory runner (tests/harness.py) over SQLite and PostgreSQL,
and `govshare query objections --stats` over what they projected. None starts a service:
nothing here is about processes or the broker."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

from events.codec import decode_message
from processors.rules.working_days import end_of_day
from projections import queries
from tests.builders import event, new_id, registered

NB = "ningbo-haishu-2021"
PROVIDER = dict(department="nb-market", role="PROVIDER", policy=NB)
USER = dict(department="nb-civil", role="USER", policy=NB)
AUTH = dict(department="nb-authority", role="DATA_AUTHORITY", policy=NB)
MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # Monday 2 Nov 2026, 10:00 in Ningbo


def report(objection_id, entry_id, **extra):
    payload = {"entry_id": entry_id, "kind": "ERROR", "records": ["91330203MA2AXXXX"],
               "fields": ["registered_capital"], "expected": "500万元", **extra}
    return event("ObjectionReported", objection_id, 1, payload, **USER)


def corrected(objection_id, sequence, version="2026.11.03"):
    return event("ObjectionResolved", objection_id, sequence, {
        "outcome": "CORRECTED", "note": "已按工商登记更正",
        "correction": {"records": ["91330203MA2AXXXX"], "fields": ["registered_capital"],
                       "data_version": version}}, **PROVIDER)


def verdicts(outputs):
    return [getattr(decode_message(o.headers, o.value).payload, "rule", "accepted") for o in outputs]


def test_each_outcome_and_who_may_do_what(harness):
    entry = new_id()
    harness.given(registered(entry, department="nb-market", policy=NB), at=MON)
    a, b, c = new_id("ob"), new_id("ob"), new_id("ob")
    outputs = harness.submit(
        report(a, entry), report(b, entry), report(c, entry),
        event("ObjectionResolved", a, 2, {"outcome": "CONFIRMED_CORRECT", "note": "x"}, **USER),
        corrected(a, 2),
        event("ObjectionResolved", b, 2, {"outcome": "CONFIRMED_CORRECT", "note": "已核对原始档案，数据无误"}, **PROVIDER),
        event("ObjectionResolved", c, 2, {"outcome": "RESOLVED_BY_COMMUNICATION", "note": ""}, **PROVIDER),
        event("ObjectionResolved", c, 2, {"outcome": "RESOLVED_BY_COMMUNICATION", "note": "双方约定按季度更新"}, **PROVIDER),
        event("ResolutionAccepted", a, 3, {}, **USER),
        corrected(a, 4),
        event("ObjectionResolved", new_id("ob"), 2, {"outcome": "CONFIRMED_CORRECT", "note": "n"}, **PROVIDER),
        at=MON)
    assert verdicts(outputs) == [
        "accepted", "accepted", "accepted", "actor-not-permitted", "accepted", "accepted",
        "resolution-needs-evidence", "accepted", "accepted", "objection-must-be-open",
        "objection-must-exist"]


def test_a_breach_when_the_provider_does_not_act_within_five_working_days(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    [scheduled] = harness.deadline_events()
    assert scheduled.payload.due_at == end_of_day(date(2026, 11, 9), "Asia/Shanghai")  # Mon+5 wd
    assert scheduled.payload.party == "nb-market" and "Ningbo Art. 27" in scheduled.payload.article
    harness.advance(end_of_day(date(2026, 11, 9), "Asia/Shanghai") - timedelta(seconds=1))
    assert "DeadlineBreached" not in harness.types()
    harness.advance(end_of_day(date(2026, 11, 9), "Asia/Shanghai"))
    assert "DeadlineBreached" in harness.types()


def test_an_extension_within_sixty_natural_days_and_one_beyond(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    outputs = harness.submit(
        event("ObjectionExtensionRequested", objection, 2, {"total_natural_days": 61, "reason": "跨部门核查"}, **PROVIDER),
        event("ObjectionExtensionRequested", objection, 2, {"total_natural_days": 30, "reason": "跨部门核查"}, **PROVIDER),
        event("ObjectionExtensionGranted", objection, 3, {"total_natural_days": 61}, **AUTH),
        event("ObjectionExtensionGranted", objection, 3, {"total_natural_days": 30}, **AUTH), at=MON)
    assert verdicts(outputs) == ["objection-extension-bound", "accepted", "objection-extension-bound", "accepted"]
    rejected = decode_message(outputs[0].headers, outputs[0].value).payload
    assert rejected.article == "Ningbo Art. 27 (最长不超过60个自然日)"
    extended = harness.deadline_events()[-1].payload
    assert extended.due_at == end_of_day(date(2026, 12, 2), "Asia/Shanghai")  # 2 Nov + 30 days


def test_an_extension_under_a_profile_that_provides_none_is_rejected_with_its_article(harness):
    # Hebei extends catalog updates but not objection handling: the answer is a rejection, not
    # a validator fault.
    hb = "hebei-2023"
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="hb-psb", policy=hb), at=MON)
    reported = event("ObjectionReported", objection, 1, report(objection, entry)["payload"],
                     department="hb-civil", role="USER", policy=hb)
    outputs = harness.submit(reported, event(
        "ObjectionExtensionRequested", objection, 2, {"total_natural_days": 30, "reason": "跨部门核查"},
        department="hb-psb", role="PROVIDER", policy=hb), at=MON)
    assert verdicts(outputs) == ["accepted", "objection-extension-not-provided"]
    assert decode_message(outputs[1].headers, outputs[1].value).payload.article.startswith("Hebei Measures")


def test_a_contest_reopens_with_a_new_limit(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    harness.given(corrected(objection, 2), at=MON + timedelta(days=1))
    outputs = harness.submit(event("ResolutionContested", objection, 3, {"reason": "仍有错误"}, **USER),
                             at=MON + timedelta(days=3))
    assert verdicts(outputs) == ["accepted"]
    types = harness.types()
    assert types == ["DeadlineScheduled", "DeadlineMet", "DeadlineScheduled"]
    second = harness.deadline_events()[-1].payload
    assert second.obligation_id == "round-2"
    assert second.due_at == end_of_day(date(2026, 11, 12), "Asia/Shanghai")  # Thu 5 Nov + 5 wd


def test_a_correction_shows_in_the_entrys_history_and_the_views(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    harness.given(corrected(objection, 2), at=MON + timedelta(hours=3))
    harness.given(event("ResolutionAccepted", objection, 3, {}, **USER), at=MON + timedelta(hours=4))
    engine = harness.project()
    [version] = queries.entry(engine, entry)["data_versions"]
    assert (version["data_version"], version["objection_id"]) == ("2026.11.03", objection)
    [closed] = queries.objection_list(engine, status="closed")
    assert closed["objection_id"] == objection
    stats = json.loads(harness.cli("query", "objections", "--stats").stdout)
    assert stats["by_outcome"] == {"CORRECTED": 1} and stats["by_status"] == {"closed": 1}
    assert stats["mean_hours_to_resolve"] == 3.0


def test_an_urgent_objection_gets_the_limit_the_authority_sets(harness):
    entry, urgent, ordinary = new_id(), new_id("ob"), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), at=MON)
    limit = (MON + timedelta(hours=8)).isoformat()
    outputs = harness.submit(
        report(urgent, entry, urgent=True), report(ordinary, entry),
        event("UrgentLimitSet", ordinary, 2, {"due_at": limit, "reason": "r"}, **AUTH),
        event("UrgentLimitSet", urgent, 2, {"due_at": limit, "reason": "r"}, **PROVIDER),
        event("UrgentLimitSet", urgent, 2, {"due_at": limit, "reason": "涉及群众办事"}, **AUTH), at=MON)
    assert verdicts(outputs) == ["accepted", "accepted", "objection-not-urgent",
                                 "actor-not-permitted", "accepted"]
    moved = harness.deadline_events()[-1].payload
    assert moved.due_at == MON + timedelta(hours=8)
    harness.advance(MON + timedelta(hours=8) - timedelta(seconds=1))
    assert "DeadlineBreached" not in harness.types()
    assert harness.advance(MON + timedelta(hours=8)) >= 1
    assert "DeadlineBreached" in harness.types()


def test_each_access_shows_the_data_version_it_saw(harness):
    entry, objection, grant_request = new_id(), new_id("ob"), new_id("req")
    nb_user = dict(department="nb-civil", role="USER", policy=NB)
    harness.given(registered(entry, department="nb-market", policy=NB, codes=["R.1"]), at=MON)
    harness.given(event("RequestSubmitted", grant_request, 1, {
        "entry_id": entry, "items": ["R.1"], "purpose": "核验", "scenario": "s", "business_process": "b",
        "method": "INTERFACE", "period_end": "2026-12-31"}, **nb_user), at=MON)
    grant_id = harness.emitted("grant")[0].envelope.aggregate_id

    def access(at):
        harness.given(event("DataAccessed", new_id("acc"), 1, {
            "grant_id": grant_id, "entry_id": entry, "items": ["R.1"], "purpose": "核验",
            "recipient": "nb-civil", "person": "sys", "method": "INTERFACE", "scenario": "s"}, **nb_user), at=at)
    access(MON + timedelta(hours=1))
    harness.given(report(objection, entry), at=MON + timedelta(hours=2))
    harness.given(corrected(objection, 2, version="v2"), at=MON + timedelta(hours=3))
    access(MON + timedelta(hours=4))
    engine = harness.project()
    seen = queries.entry(engine, entry)["accesses"]
    assert [(s["data_version"], s["objection_id"]) for s in seen] == [(None, None), ("v2", objection)]


# --- catalog entries: completeness (issue #12): the timing of extensions and urgent limits

def test_an_extension_asked_after_the_limit_lapsed_is_refused_and_the_breach_stands(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    lapsed = end_of_day(date(2026, 11, 9), "Asia/Shanghai")  # Mon 2 Nov + 5 working days
    harness.advance(lapsed)
    ask = event("ObjectionExtensionRequested", objection, 2, {"total_natural_days": 30, "reason": "跨部门核查"},
                **PROVIDER)
    [late] = harness.submit(ask, at=lapsed + timedelta(minutes=1))
    rejected = decode_message(late.headers, late.value).payload
    assert rejected.rule == "objection-extension-too-late" and rejected.article.startswith("Ningbo Art. 27")
    assert "DeadlineBreached" in harness.types() and "DeadlineExtended" not in harness.types()


def test_an_extension_asked_in_time_but_granted_after_the_lapse_is_refused(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB), report(objection, entry), at=MON)
    ask = event("ObjectionExtensionRequested", objection, 2, {"total_natural_days": 30, "reason": "跨部门核查"},
                **PROVIDER)
    grant = event("ObjectionExtensionGranted", objection, 3, {"total_natural_days": 30}, **AUTH)
    assert verdicts(harness.submit(ask, at=MON + timedelta(days=1))) == ["accepted"]
    lapsed = end_of_day(date(2026, 11, 9), "Asia/Shanghai")
    assert verdicts(harness.submit(grant, at=lapsed)) == ["objection-extension-too-late"]
    refuse = event("ObjectionExtensionRefused", objection, 3, {"reasons": "已逾期"}, **AUTH)
    assert verdicts(harness.submit(refuse, at=lapsed)) == ["accepted"]


def test_an_urgent_limit_stays_within_sixty_natural_days_of_the_report(harness):
    entry, objection = new_id(), new_id("ob")
    harness.given(registered(entry, department="nb-market", policy=NB),
                  report(objection, entry, urgent=True), at=MON)
    cap = end_of_day(date(2026, 11, 2) + timedelta(days=60), "Asia/Shanghai")  # 1 Jan 2027
    beyond = event("UrgentLimitSet", objection, 2, {"due_at": (cap + timedelta(seconds=1)).isoformat(),
                                                     "reason": "涉及群众办事"}, **AUTH)
    past = event("UrgentLimitSet", objection, 2, {"due_at": (MON - timedelta(hours=1)).isoformat(),
                                                   "reason": "涉及群众办事"}, **AUTH)
    within = event("UrgentLimitSet", objection, 2, {"due_at": cap.isoformat(), "reason": "涉及群众办事"}, **AUTH)
    outputs = harness.submit(beyond, past, within, at=MON + timedelta(hours=1))
    assert verdicts(outputs) == ["urgent-limit-bound", "urgent-limit-bound", "accepted"]
    rejected = decode_message(outputs[0].headers, outputs[0].value).payload
    assert rejected.article.startswith("Ningbo Art. 27")


def test_the_authority_reports_what_its_monitoring_finds_where_its_measures_say_so(harness):
    """Ningbo Art. 29: the data authority has what is aggregated cleaned, compared and checked,
    and finds problem data; it reports it to the provider as a using department would, under the
    same 5-working-day limit, and answers the resolution. Guangdong's measures give the
    authority no such duty: there a using department reports (a platform rule, after Art. 29)."""
    # Given a Ningbo entry, and a Guangdong one
    entry, gd_entry = new_id(), new_id()
    harness.given(registered(entry, department="nb-market", policy=NB), registered(gd_entry), at=MON)
    found, gd_found, other = new_id("ob"), new_id("ob"), new_id("ob")
    # When each jurisdiction's authority reports problem data on its own entry, and Guangdong's
    # on Ningbo's entry
    nb, gd, outside = harness.when(
        event("ObjectionReported", found, 1, report(found, entry)["payload"], **AUTH),
        event("ObjectionReported", gd_found, 1, report(gd_found, gd_entry)["payload"],
              department="gd-authority", role="DATA_AUTHORITY", policy="guangdong-2018"),
        event("ObjectionReported", other, 1, report(other, entry)["payload"],
              department="gd-authority", role="DATA_AUTHORITY", policy="guangdong-2018"), at=MON)
    # Then Ningbo's is accepted and starts the provider's limit, citing Art. 27
    assert nb["status"] == "accepted", nb
    [scheduled] = [e.payload for e in harness.deadline_events() if e.payload.subject_id == found]
    assert scheduled.party == "nb-market" and "Ningbo Art. 27" in scheduled.article
    # and Guangdong's is refused with the platform rule, the other jurisdiction's authority too
    assert (gd["rule"], gd["article"]) == ("authority-monitoring-not-provided", "govshare platform rule")
    assert outside["rule"] in ("authority-of-the-entry", "jurisdiction-mismatch"), outside
    # When the provider corrects it, the reporting authority accepts the resolution (a using
    # department may not answer for it)
    harness.given(corrected(found, 2), at=MON + timedelta(days=1))
    refused, accepted = harness.when(event("ResolutionAccepted", found, 3, {}, **USER),
                                     event("ResolutionAccepted", found, 3, {"comment": "核验通过"}, **AUTH),
                                     at=MON + timedelta(days=2))
    assert refused["rule"] == "actor-not-permitted" and "nb-authority" in refused["error"]
    assert accepted["status"] == "accepted", accepted
    [row] = [o for o in queries.objection_list(harness.project(), status="closed") if o["objection_id"] == found]
    assert (row["reporter"], row["status"]) == ("nb-authority", "closed")
