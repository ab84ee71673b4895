"""The catalog's rules as pure decisions: no broker, no database, no clock."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from events.codec import Event
from events.submission import parse_line
from processors import catalog, jurisdiction
from processors.profiles import load_all
from processors.verdicts import Accepted, RuleBroken
from tests.builders import LAW, attributes, event, registered

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
POLICIES = load_all()


def as_event(data: dict) -> Event:
    return parse_line(json.dumps(data, ensure_ascii=False), now=NOW)


def resolve_context(e: Event, sources) -> catalog.Context:
    policy, department = jurisdiction.resolve(e, POLICIES)
    return catalog.Context(e.envelope.aggregate_id, policy, department, sources)


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
    ctx = catalog.Context("e", policy, POLICIES.departments["gd-hrss"], {})
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

    from processors import jurisdiction, objections, requests
    source = "".join(Path(m.__file__).read_text()
                     for m in (catalog, objections, jurisdiction, requests))
    limits = {"catalog-update-extension", "objection-processing-extension"}
    named = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', source)) - limits
    for profile in POLICIES.profiles.values():
        optional = {"internal-rule-not-a-basis", "base-items-unconditional",
                    "licensing-data-unconditional", "extension-not-provided", "extension-limit",
                    "objection-extension-bound"}
        missing = named - set(profile.rules) - optional
        assert not missing, f"{profile.id} lacks {missing}"
        assert all(rule.article for rule in profile.rules.values())
