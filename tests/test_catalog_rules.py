"""The catalog's rules as pure decisions: no broker, no database, no clock."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from events.codec import Event
from events.submission import parse_line
from processors.rules import catalog, jurisdiction
from processors.profiles import load_all
from processors.rules.verdicts import Accepted, RuleBroken
from processors.rules.working_days import end_of_day
from tests.builders import LAW, attributes, event, registered

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
POLICIES = load_all()


def as_event(data: dict) -> Event:
    return parse_line(json.dumps(data, ensure_ascii=False), now=NOW)


def resolve_context(e: Event, sources) -> catalog.Context:
    policy, department = jurisdiction.resolve(e, POLICIES)
    return catalog.Context(e.envelope.aggregate_id, policy, department, sources, NOW)


def verdict(state, data, sources=None):
    e = as_event(data)
    try:
        ctx = resolve_context(e, sources or {})
    except RuleBroken as stop:
        return stop.rejected
    return catalog.decide(state, e, ctx)


def given(*events: dict) -> catalog.EntryState:
    state = None
    for data in events:
        e = as_event(data)
        ctx = resolve_context(e, {})
        assert isinstance(catalog.decide(state, e, ctx), Accepted), data["type"]
        state = catalog.evolve(state, e)
    return state


@pytest.mark.parametrize("share_type", ["CONDITIONAL", "NON_SHAREABLE"])
def test_restricted_entries_need_a_legal_basis(share_type):
    result = verdict(None, registered("e", share_type=share_type, share_conditions="c"))
    assert (result.rule, result.article) == ("legal-basis-required", "GD-2018 Art. 18")


def test_ningbo_cites_its_own_article_for_the_legal_basis():
    result = verdict(None, registered("e", department="nb-market", policy="ningbo-haishu-2021",
                                      share_type="NON_SHAREABLE"))
    assert (result.rule, result.article) == ("legal-basis-required", "Ningbo Art. 16")


def test_an_internal_rule_is_no_basis():
    basis = {"kind": "INTERNAL_RULE", "title": "本厅数据管理细则", "article": "第三条"}
    result = verdict(None, registered("e", share_type="NON_SHAREABLE", legal_basis=basis))
    assert (result.rule, result.article) == ("internal-rule-not-a-basis", "GD-2018 Art. 16")


def test_a_conditional_entry_must_state_its_conditions():
    result = verdict(None, registered("e", share_type="CONDITIONAL", legal_basis=LAW))
    assert result.rule == "conditions-required"


def test_a_conditional_entry_with_basis_and_conditions_is_accepted():
    assert verdict(None, registered("e", share_type="CONDITIONAL", legal_basis=LAW,
                                    share_conditions="仅限医保结算")) == catalog.ACCEPTED


def test_base_items_of_a_base_resource_must_be_unconditional():
    attrs = attributes(share_type="CONDITIONAL", legal_basis=LAW, share_conditions="c",
                       base_resource="POPULATION")
    attrs["data_items"][0]["base_item"] = True
    result = verdict(None, event("EntryRegistered", "e", 1, {"attributes": attrs},
                                 department="gd-psb"))
    assert (result.rule, result.article) == ("base-items-unconditional", "GD-2018 Art. 17")


def test_licensing_data_is_unconditional_under_guangdong_2008_only():
    attrs = dict(share_type="NON_SHAREABLE", legal_basis=LAW, for_administrative_licensing=True)
    assert verdict(None, registered("e", **attrs)) == catalog.ACCEPTED  # not a GD-2018 rule
    # guangdong-2008 departments are not in the shipped directory: check the rule itself.
    policy = POLICIES.profiles["guangdong-2008"]
    ctx = catalog.Context("e", policy, POLICIES.departments["gd-hrss"], {}, NOW)
    with pytest.raises(RuleBroken) as raised:
        catalog.check_attributes(as_event(registered("e", **attrs)).payload.attributes, "e", ctx)
    assert raised.value.rejected.article == "GD-2008 Art. 4"


def test_one_data_one_source():
    result = verdict(None, registered("e", codes=["A.1"]), sources={"A.1": "other-entry"})
    assert result.rule == "one-data-one-source" and "other-entry" in result.message


def test_an_entry_may_keep_its_own_items_when_revised():
    state = given(registered("e", codes=["A.1"]))
    revision = event("EntryRevised", "e", 2, {"attributes": attributes(codes=["A.1"]), "reason": "r"})
    assert verdict(state, revision, sources={"A.1": "e"}) == catalog.ACCEPTED


def test_only_the_provider_may_revise_and_only_the_authority_may_approve():
    state = given(registered("e"), event("RevisionSubmitted", "e", 2,
                                         {"revision_id": "r1", "attributes": attributes()}))
    assert verdict(state, event("RevisionApproved", "e", 3, {"revision_id": "r1"})).rule \
        == "actor-not-permitted"
    forged = event("RevisionApproved", "e", 3, {"revision_id": "r1"}, department="gd-hrss",
                   role="DATA_AUTHORITY")
    assert verdict(state, forged).rule == "actor-not-permitted"
    real = event("RevisionApproved", "e", 3, {"revision_id": "r1"}, department="gd-authority",
                 role="DATA_AUTHORITY")
    assert verdict(state, real) == catalog.ACCEPTED


def test_a_department_acts_only_under_its_own_jurisdiction():
    result = verdict(None, registered("e", department="hb-civil", policy="guangdong-2018"))
    assert result.rule == "jurisdiction-mismatch"
    assert verdict(None, registered("e", department="nobody")).rule == "department-unknown"
    assert verdict(None, registered("e", policy="atlantis")).rule == "policy-unknown"


def test_sequence_must_follow_the_aggregate():
    state = given(registered("e"))
    late = event("EntryTakenDown", "e", 3, {"reason": "r"})
    assert verdict(state, late).rule == "sequence-out-of-order"
    assert verdict(state, registered("e")).rule == "entry-already-registered"


def test_extension_needs_the_policy_to_provide_one():
    state = given(registered("e"), event(
        "ChangeObligationRaised", "e", 2, {"obligation_id": "o", "trigger": "LAW_REVISED",
                                          "reference": "r", "received_on": "2026-09-30"}))
    result = verdict(state, event("ExtensionRequested", "e", 3, {"obligation_id": "o", "reason": "r"}))
    assert (result.rule, result.article) == ("extension-not-provided", "GD-2018 Art. 9")


def test_approval_fulfils_the_obligation_and_evolves_the_version():
    state = given(
        registered("e", codes=["A"]),
        event("ChangeObligationRaised", "e", 2, {"obligation_id": "o", "trigger": "LAW_REVISED",
                                                "reference": "r", "received_on": "2026-09-30"}),
        event("RevisionSubmitted", "e", 3, {"revision_id": "r1", "obligation_id": "o",
                                            "attributes": attributes(codes=["A", "B"])}),
        event("RevisionApproved", "e", 4, {"revision_id": "r1"}, department="gd-authority",
              role="DATA_AUTHORITY"))
    assert (state.version, state.sequence, state.item_codes) == (2, 4, ("A", "B"))
    assert state.obligation("o").open is False and state.pending is None


def test_every_rule_the_code_names_has_an_article_in_every_profile():
    import re
    from pathlib import Path

    from processors.rules import jurisdiction, objections, requests
    source = "".join(Path(m.__file__).read_text()
                     for m in (catalog, objections, jurisdiction, requests))
    limits = {"catalog-update-extension", "objection-processing-extension"}
    named = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', source)) - limits
    for profile in POLICIES.profiles.values():
        optional = {"internal-rule-not-a-basis", "base-items-unconditional",
                    "licensing-data-unconditional", "extension-not-provided", "extension-limit",
                    "objection-extension-bound", "restriction-reason-required",
                    # a duty only the Ningbo measures give the authority (Art. 29): a flag
                    "authority-monitoring",
                    # the methods only the Ningbo measures tie to a system's kind (Art. 19): flags
                    "method-by-system-type", "exchange-needs-assessment"}
        missing = named - set(profile.rules) - optional
        assert not missing, f"{profile.id} lacks {missing}"
        assert all(rule.article for rule in profile.rules.values())


# --- catalog entries: completeness (issue #12)

HEBEI = dict(department="hb-civil", policy="hebei-2023")
NINGBO = dict(department="nb-market", policy="ningbo-haishu-2021")


@pytest.mark.parametrize("where, blank, article", [
    (HEBEI, "usage_scope", "Hebei Measures"),
    (HEBEI, "security_level", "Hebei Measures"),
    (NINGBO, "share_period", "Ningbo Art. 10"),
    (NINGBO, "information_system", "Ningbo Art. 10"),
    ({}, "usage_requirements", "GD-2018 Art. 8"),
    ({}, "classification", "GD-2018 Art. 8"),
])
def test_an_entry_missing_what_its_jurisdiction_requires_is_rejected_naming_it(where, blank, article):
    result = verdict(None, registered("e", **where, **{blank: "   "}))
    assert result.rule == "entry-attributes-required" and result.article.startswith(article)
    assert blank in result.message


def test_every_attribute_a_profile_requires_is_a_field_of_an_entry():
    from dataclasses import fields

    from events.catalog import EntryAttributes
    names = {f.name for f in fields(EntryAttributes)}
    for profile in POLICIES.profiles.values():
        assert set(profile.rule("entry-attributes-required").required) <= names, profile.id


def test_an_entry_needs_items_each_with_a_code_and_a_name_and_each_code_once():
    assert verdict(None, registered("e", data_items=[])).rule == "data-items-required"
    unnamed = [{"code": "A.1", "name": "姓名"}, {"code": "A.2", "name": " "}]
    result = verdict(None, registered("e", data_items=unnamed))
    assert result.rule == "data-items-required" and "#2" in result.message
    assert verdict(None, registered("e", data_items=[{"code": "", "name": "n"}])).rule == "data-items-required"
    twice = [{"code": "A.1", "name": "姓名"}, {"code": "A.1", "name": "名字"}]
    result = verdict(None, registered("e", data_items=twice))
    assert result.rule == "data-item-duplicated" and "A.1" in result.message


def test_a_revision_is_held_to_the_same_completeness():
    state = given(registered("e", codes=["A"]))
    revised = event("EntryRevised", "e", 2, {"attributes": attributes(codes=["A"], usage_requirements=""),
                                             "reason": "r"})
    assert verdict(state, revised, sources={"A": "e"}).rule == "entry-attributes-required"
    submitted = event("RevisionSubmitted", "e", 2, {"revision_id": "r1", "attributes": attributes(
        codes=["A", "A"])})
    assert verdict(state, submitted, sources={"A": "e"}).rule == "data-item-duplicated"


@pytest.mark.parametrize("blank", ["title", "article"])
def test_a_legal_basis_must_cite_a_title_and_an_article(blank):
    basis = {**LAW, blank: "  "}
    result = verdict(None, registered("e", share_type="NON_SHAREABLE", legal_basis=basis))
    assert (result.rule, result.article) == ("legal-basis-required", "GD-2018 Art. 18")
    assert blank in result.message


def test_ningbo_asks_a_reason_as_well_as_a_basis_for_a_restricted_entry():
    restricted = dict(share_type="NON_SHAREABLE", legal_basis=LAW, **NINGBO)
    result = verdict(None, registered("e", **restricted))
    assert result.rule == "restriction-reason-required" and result.article.startswith("Ningbo Art. 16")
    assert verdict(None, registered("e", restriction_reason="涉及个人隐私", **restricted)) == catalog.ACCEPTED
    # Guangdong asks no reason: the basis is enough.
    assert verdict(None, registered("e", share_type="NON_SHAREABLE", legal_basis=LAW)) == catalog.ACCEPTED


def raised(received_on: str, sequence: int = 2, **where) -> dict:
    return event("ChangeObligationRaised", "e", sequence, {
        "obligation_id": "o", "trigger": "LAW_REVISED", "reference": "r", "received_on": received_on},
        **where)


def test_a_change_obligation_cannot_be_received_after_the_day_it_is_recorded():
    state = given(registered("e"))
    # NOW is 20 Nov 2026, 17:00 in Guangdong: the 20th is today, the 21st is to come.
    assert verdict(state, raised("2026-11-20")) == catalog.ACCEPTED
    result = verdict(state, raised("2026-11-21"))
    assert result.rule == "obligation-received-in-future" and result.article.startswith("GD-2018 Art. 9")


def verdict_at(state, data, at: datetime):
    e = as_event(data)
    return catalog.decide(state, e, replace(resolve_context(e, {}), now=at))


def test_an_extension_is_asked_and_granted_before_the_update_limit_lapses():
    hebei_entry = registered("e", **HEBEI)
    # Received Fri 25 Sep 2026; the 10 working days skip the National Day holidays (the
    # official calendar, as the deadline engine counts them).
    state = given(hebei_entry, raised("2026-09-25", **HEBEI))
    due = catalog.update_due_at(state.obligation("o"), resolve_context(as_event(hebei_entry), {}))
    assert due == end_of_day(date(2026, 10, 15), "Asia/Shanghai")
    ask = event("ExtensionRequested", "e", 3, {"obligation_id": "o", "reason": "机构调整"}, **HEBEI)
    assert verdict_at(state, ask, due - timedelta(seconds=1)) == catalog.ACCEPTED
    late = verdict_at(state, ask, due)
    assert late.rule == "extension-too-late" and late.article.startswith("Hebei Measures")
    asked = catalog.evolve(state, as_event(ask))
    grant = event("ExtensionGranted", "e", 4, {"obligation_id": "o"}, department="hb-authority",
                  role="DATA_AUTHORITY", policy="hebei-2023")
    assert verdict_at(asked, grant, due - timedelta(seconds=1)) == catalog.ACCEPTED
    assert verdict_at(asked, grant, due + timedelta(days=1)).rule == "extension-too-late"
