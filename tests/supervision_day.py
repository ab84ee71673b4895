"""A supervisor's world on several jurisdictions, built on the in-memory runner: what the dashboard's
browser tests walk through, and what `python -m tests.supervision_day HOME` leaves in a home for a
person to look at (`GOVSHARE_HOME=HOME govshare run api`).

Guangdong: a conditional entry, a request refused with reasons and disputed, a request approved,
a change obligation breached (rectification ordered, then criticised). Hebei: an obligation met
and one breached. Ningbo: an objection processed late, a misuse (a usage violation), a request
escalated to the leadership group.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from processors.grant_keeper import grant_id
from tests.builders import LAW, attributes, event, new_id, registered, request

START = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # Monday 2 November 2026, 10:00 in Beijing
GD_AUTH = dict(department="gd-authority", role="DATA_AUTHORITY")
HB = dict(department="hb-civil", policy="hebei-2023")
HB_AUTH = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
NB = "ningbo-haishu-2021"


def build(system, *, start: datetime = START) -> dict[str, Any]:
    """Given the three jurisdictions' scenario, with the clock run to four weeks after `start`;
    returns the subjects' ids by name."""
    ids: dict[str, Any] = {}
    day = start.astimezone(timezone(timedelta(hours=8))).date().isoformat()

    # Guangdong
    gd_entry, refused, approved, gd_late = new_id("gd-entry"), new_id("gd-req"), new_id("gd-req"), new_id("gd-entry")
    system.given(registered(gd_entry, codes=["G.1", "G.2"], share_type="CONDITIONAL", legal_basis=LAW,
                            share_conditions="仅限审批使用", title="广东省社会保险参保信息"),
                 registered(gd_late, codes=["G.9"], title="广东省企业登记信息", department="gd-amr"),
                 event("ChangeObligationRaised", gd_late, 2, {"obligation_id": "ob-1", "trigger": "LAW_REVISED",
                       "reference": "《广东省政务数据资源共享管理办法》修订", "received_on": day}, **GD_AUTH),
                 at=start)
    system.given(request(refused, gd_entry, items=("G.1",), purpose="企业开办审批"),
                 request(approved, gd_entry, items=("G.2",), purpose="社保待遇核查", user=dict(department="gd-psb", role="USER")),
                 at=start + timedelta(hours=1))
    system.given(event("RequestRejected", refused, 2, {"reasons": "用途与申请事项不符，不予共享"}, **GD_AUTH),
                 event("RequestDisputed", refused, 3, {"reason": "用途符合企业开办一件事"}, department="gd-amr", role="USER"),
                 event("ProviderConsulted", approved, 2, {}, **GD_AUTH),
                 event("ProviderAnswered", approved, 3, {"agrees": True}, department="gd-hrss", role="PROVIDER"),
                 event("RequestApproved", approved, 4, {"comment": "同意共享"}, **GD_AUTH),
                 at=start + timedelta(days=1))
    ids.update(gd_entry=gd_entry, gd_refused=refused, gd_approved=approved, gd_late=gd_late)

    # Hebei
    hb_met, hb_late = new_id("hb-entry"), new_id("hb-entry")
    raised = {"obligation_id": "ob", "trigger": "DUTIES_CHANGED", "reference": "机构改革方案", "received_on": day}
    system.given(registered(hb_met, codes=["HB.1"], title="河北省社会组织登记信息", **HB),
                 event("ChangeObligationRaised", hb_met, 2, raised, **HB_AUTH),
                 registered(hb_late, codes=["HB.9"], title="河北省养老机构名录", **HB),
                 event("ChangeObligationRaised", hb_late, 2, raised, **HB_AUTH), at=start)
    system.given(event("RevisionSubmitted", hb_met, 3, {"revision_id": "r1", "obligation_id": "ob",
                       "attributes": attributes(codes=["HB.1", "HB.2"], title="河北省社会组织登记信息（第二版）")}, **HB),
                 at=start + timedelta(days=2))
    ids.update(hb_met=hb_met, hb_late=hb_late)

    # Ningbo
    nb_entry, objection, misused, escalated = new_id("nb-entry"), new_id("nb-obj"), new_id("nb-req"), new_id("nb-req")
    nb_cond = new_id("nb-entry")
    system.given(registered(nb_entry, codes=["N.1"], department="nb-market", policy=NB, title="海曙区企业名录"),
                 registered(nb_cond, codes=["N.5"], department="nb-market", policy=NB, share_type="CONDITIONAL",
                            legal_basis=LAW, share_conditions="仅限监管使用", restriction_reason="涉及商业秘密",
                            title="海曙区企业经营异常信息"), at=start)
    system.given(event("ObjectionReported", objection, 1, {"entry_id": nb_entry, "kind": "ERROR", "records": ["91330203MA2A"],
                       "fields": ["registered_capital"], "expected": "500万元"}, department="nb-civil", role="USER", policy=NB),
                 event("RequestSubmitted", misused, 1, {"entry_id": nb_entry, "items": ["N.1"], "purpose": "行政审批",
                       "scenario": "一网通办", "business_process": "审批", "method": "INTERFACE",
                       "period_end": (start + timedelta(days=365)).date().isoformat()},
                       department="nb-civil", role="USER", policy=NB),
                 event("RequestSubmitted", escalated, 1, {"entry_id": nb_cond, "items": ["N.5"], "purpose": "监管执法",
                       "scenario": "双随机检查", "business_process": "检查", "method": "INTERFACE",
                       "period_end": (start + timedelta(days=365)).date().isoformat()},
                       department="nb-health", role="USER", policy=NB), at=start + timedelta(hours=2))
    system.given(event("DataAccessed", new_id("acc"), 1, {"grant_id": grant_id(misused), "entry_id": nb_entry,
                       "items": ["N.1"], "purpose": "商业营销", "recipient": "nb-civil", "person": "王五",
                       "method": "INTERFACE", "scenario": "一网通办"}, department="nb-civil", role="USER", policy=NB),
                 event("ProviderConsulted", escalated, 2, {}, department="nb-authority", role="DATA_AUTHORITY", policy=NB),
                 event("ProviderAnswered", escalated, 3, {"agrees": False, "legal_basis": LAW},
                       department="nb-market", role="PROVIDER", policy=NB),
                 event("RequestRejected", escalated, 4, {"reasons": "提供部门依法不同意共享"},
                       department="nb-authority", role="DATA_AUTHORITY", policy=NB),
                 event("RequestDisputed", escalated, 5, {"reason": "执法需要"}, department="nb-health", role="USER", policy=NB),
                 event("DisputeDecided", escalated, 6, {"outcome": "ESCALATE", "reasons": "双方意见不一致，提交领导小组协调"},
                       department="nb-authority", role="DATA_AUTHORITY", policy=NB),
                 at=start + timedelta(days=1))
    ids.update(nb_entry=nb_entry, nb_objection=objection, nb_misused=misused, nb_escalated=escalated)

    # Four weeks pass: limits lapse, orders follow, some of them lapse too.
    for days in (7, 14, 21, 28):
        system.advance(start + timedelta(days=days))
    ids["now"] = start + timedelta(days=28)
    return ids


if __name__ == "__main__":  # a home to look at: python -m tests.supervision_day HOME
    import sys
    from pathlib import Path

    import tests.conftest  # noqa: F401  (the session's department keys)
    from tests.harness import Harness
    home = Path(sys.argv[1]).resolve()
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'govshare.db'}"
    harness = Harness(url, home)
    found = build(harness)
    print(f"GOVSHARE_HOME={home} GOVSHARE_DATABASE_URL={url} GOVSHARE_STATE_URL={url} "
          f"GOVSHARE_TOPIC_PREFIX={harness.sim.settings.topic_prefix}")
    print(found)
