"""Entrusted third parties (#25 item 11; Hebei: 政务部门委托第三方…应当经过严格的批准程序) and
cooperation with companies (#25 item 6; Ningbo Art. 23): a using department's contractor or
partner receives shared data as the department's own use only once the data authority of its
jurisdiction approved it (a cooperation with its written agreement), and only until the
approval's last day; any other recipient is a third party. On the in-memory runner over SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from processors.grant_keeper import grant_id
from projections import queries
from tests.builders import event, new_id, registered, request
from tests.test_sharing import access

MON = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)
NB = "ningbo-haishu-2021"
CONTRACTOR = "广州数联科技有限公司"


def approved(entrustment: str, *, department: str = "gd-amr", by: str = "gd-authority",
             policy: str = "guangdong-2018", **payload) -> dict:
    return event("EntrustmentApproved", entrustment, 1, {
        "department": department, "contractor": CONTRACTOR, "purpose": "企业登记数据清洗比对",
        "reference": "粤政数批〔2026〕12号", "valid_until": "2026-11-30"} | payload,
        department=by, role="DATA_AUTHORITY", policy=policy)


def test_an_approved_contractor_receives_data_as_its_department_and_anyone_else_is_a_third_party(harness):
    # Given an unconditional entry granted to gd-amr, and its authority's approval of a contractor
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, codes=["I.1"]), request(req, entry, ["I.1"]), at=MON)
    entrustment = new_id("ent")
    harness.given(approved(entrustment), at=MON)
    # When gd-amr provides the data to the contractor within the approval, to another company,
    # and to the contractor after the approval's last day
    to_contractor, to_other, too_late = new_id("acc"), new_id("acc"), new_id("acc")
    harness.given(access(to_contractor, grant_id(req), recipient=CONTRACTOR, entry=entry),
                  access(to_other, grant_id(req), recipient="某营销公司", entry=entry), at=MON + timedelta(days=1))
    harness.given(access(too_late, grant_id(req), recipient=CONTRACTOR, entry=entry),
                  at=datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc))
    # Then only the contractor's use within the approval is the department's own
    flagged = {e.payload.access_id: set(e.payload.violations) for e in harness.emitted("usage-supervision")}
    assert flagged == {to_other: {"third-party"}, too_late: {"third-party"}}
    # and supervisors read the approval, each jurisdiction its own departments'
    engine = harness.project()
    [shown] = queries.entrustment_list(engine, parties={"gd-amr", "gd-authority"})
    assert (shown["entrustment_id"], shown["contractor"], shown["approved_by"]) == (entrustment, CONTRACTOR,
                                                                                 "gd-authority")
    assert queries.entrustment_list(engine, parties={"nb-market", "nb-authority"}) == []
    listed = json.loads(harness.cli("query", "entrustments", "--department", "gd-amr", "--json").stdout)
    assert [r["entrustment_id"] for r in listed] == [entrustment]


def test_an_entrustment_is_approved_by_its_departments_authority_with_what_it_allows(harness):
    first = new_id("ent")
    harness.given(approved(first), at=MON)
    other_jurisdiction, blank, ended, again, by_department = harness.when(
        approved(new_id("ent"), by="hb-authority", policy="hebei-2023"),
        approved(new_id("ent"), department="hb-civil", by="hb-authority", policy="hebei-2023", reference=" "),
        approved(new_id("ent"), valid_until="2026-11-01"),
        approved(first),
        event("EntrustmentApproved", new_id("ent"), 1, {
            "department": "gd-amr", "contractor": CONTRACTOR, "purpose": "清洗", "reference": "自批",
            "valid_until": "2026-11-30"}, department="gd-amr", role="USER"), at=MON)
    # Hebei's text requires the strict approval (its own article); elsewhere a platform rule
    assert (other_jurisdiction["rule"], other_jurisdiction["article"]) == (
        "entrustment-of-jurisdiction", "Hebei Measures (政务部门委托第三方…应当经过严格的批准程序)")
    assert (blank["rule"], blank["article"]) == ("entrustment-details-required",
                                                 "Hebei Measures (政务部门委托第三方…应当经过严格的批准程序)")
    assert (ended["rule"], ended["article"]) == ("entrustment-details-required", "govshare platform rule")
    assert again["rule"] == "entrustment-already-approved"
    # a department does not approve its own contractor
    assert by_department["rule"] == "actor-not-permitted"


def test_a_cooperation_with_a_company_needs_the_authority_s_consent_and_a_written_agreement(harness):
    """Ningbo Art. 23: 开展公共数据合作时，应当征得区大数据主管机构同意，并签订书面合作协议."""
    # Given a Ningbo entry granted to the civil affairs department
    entry, req = new_id(), new_id("req")
    harness.given(registered(entry, department="nb-market", policy=NB, codes=["NB.C.1"]),
                  request(req, entry, ["NB.C.1"], policy=NB, user=dict(department="nb-civil", role="USER")), at=MON)
    partner = "宁波某数据科技有限公司"
    cooperation = dict(department="nb-civil", by="nb-authority", policy=NB, contractor=partner, kind="COOPERATION",
                       purpose="养老服务需求分析")
    # When the authority consents without the written agreement, then it is refused under Art. 23
    [unwritten] = harness.when(approved(new_id("ent"), **cooperation, reference=""), at=MON)
    assert (unwritten["rule"], unwritten["article"]) == (
        "cooperation-agreement-required",
        "Ningbo Art. 23 (开展公共数据合作时，应当征得区大数据主管机构同意，并签订书面合作协议)")
    # When it consents with the agreement, then data provided to the partner is no third party's
    harness.given(approved(new_id("ent"), **cooperation, reference="合作协议〔2026〕9号"), at=MON)
    to_partner = new_id("acc")
    harness.given(access(to_partner, grant_id(req), ["NB.C.1"], recipient=partner, entry=entry,
                         department="nb-civil", role="USER", policy=NB), at=MON + timedelta(days=1))
    assert to_partner not in {e.payload.access_id for e in harness.emitted("usage-supervision")}
    [row] = queries.entrustment_list(harness.project(), department="nb-civil")
    assert (row["kind"], row["reference"]) == ("COOPERATION", "合作协议〔2026〕9号")
