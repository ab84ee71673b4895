"""A province's year in miniature: the event mix the benchmarks publish.

Per the Guangdong 2024 platform tender and DOMAIN.md: catalog releases of every share type in
several jurisdictions (with revisions and takedowns), share requests on every path (automatic,
reviewed and approved, refused and disputed, desensitized), data-access records (the bulk:
about nine in ten events), objections with corrections, and a few events that break a rule.
Deterministic for a given size and seed; each aggregate's events carry consecutive sequences.
"""
from __future__ import annotations

import random
import uuid
from typing import Any, Iterator

from processors.grant_keeper import grant_id

LAW = {"kind": "LAW", "title": "中华人民共和国个人信息保护法", "article": "第十三条"}
JURISDICTIONS = {
    "guangdong-2018": {"authority": "gd-authority", "providers": ["gd-psb", "gd-hrss", "gd-health"],
                       "users": ["gd-amr", "gd-hrss", "gd-psb"]},
    "hebei-2023": {"authority": "hb-authority", "providers": ["hb-psb", "hb-civil"],
                   "users": ["hb-civil", "hb-psb"]},
    "ningbo-haishu-2021": {"authority": "nb-authority", "providers": ["nb-market", "nb-health"],
                           "users": ["nb-civil", "nb-market"]},
}
# Out of every 100 events, roughly: catalog 2, requests and reviews 6, objections 2, accesses 90.
ACCESS_SHARE = 0.90


def _event(kind: str, aggregate_id: str, sequence: int, payload: dict, department: str, role: str,
           policy: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": kind, "aggregate_id": aggregate_id, "sequence": sequence,
            "actor": {"department": department, "person": f"{department}.staff", "role": role},
            "policy": policy, "payload": payload}


def _attributes(entry: str, share_type: str, codes: list[str]) -> dict[str, Any]:
    attrs = {"title": f"数据资源 {entry}", "description": "部门履职产生的数据资源",
             "classification": "基础信息", "business_name": "政务服务", "information_system": "业务系统",
             "data_items": [{"code": c, "name": f"信息项 {c}"} for c in codes],
             "share_type": share_type, "share_methods": ["INTERFACE"], "storage_format": "database table",
             "update_frequency": "daily", "security_level": "L2", "usage_scope": "全省政务部门",
             "usage_requirements": "仅用于本部门履职", "share_period": "长期"}
    if share_type != "UNCONDITIONAL":
        # With its reason as well as its basis: Ningbo Art. 16 asks for both.
        attrs |= {"legal_basis": LAW, "share_conditions": "仅限审批核验", "restriction_reason": "涉及个人信息"}
    return attrs


class Province:
    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.run = uuid.UUID(int=self.rng.getrandbits(128)).hex[:8]
        self.entries: list[tuple[str, str, str, str, list[str]]] = []  # id, policy, provider, share type, codes
        # grant, policy, grantee, purpose, items, entry
        self.grants: list[tuple[str, str, str, str, list[str], str]] = []
        self.counter = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.run}-{self.counter:08d}"

    def events(self, n: int) -> list[dict[str, Any]]:
        catalog, traffic = self.phases(n)
        return catalog + traffic

    def phases(self, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """About n events in two phases: the catalog a platform starts with, then the year's
        traffic: requests on those entries, accesses under the grants, objections, and new
        releases. A department asks for an entry it has seen in the catalog, so a publisher
        waits for the first phase to be decided before sending the second."""
        catalog: list[dict[str, Any]] = []
        setup = max(20, int(n * (1 - ACCESS_SHARE)))
        while len(catalog) < setup * 0.3:
            catalog += self._catalog()
        traffic: list[dict[str, Any]] = []
        while len(catalog) + len(traffic) < setup * 0.9:
            traffic += self._request()
        while len(catalog) + len(traffic) < n:
            roll = self.rng.random()
            if roll < 0.01:
                traffic += self._objection()
            elif roll < 0.015:
                traffic += self._broken()
            elif roll < 0.02:
                traffic += self._catalog(listed=False)
            else:
                traffic += self._access()
        return catalog, traffic[:max(0, n - len(catalog))]

    def _catalog(self, listed: bool = True) -> list[dict[str, Any]]:
        """A release; `listed` ones are asked for later (not those released mid-traffic, which
        requests would race)."""
        policy = self.rng.choice(list(JURISDICTIONS))
        provider = self.rng.choice(JURISDICTIONS[policy]["providers"])
        share_type = self.rng.choices(["UNCONDITIONAL", "CONDITIONAL", "NON_SHAREABLE"], [6, 3, 1])[0]
        entry = self._id(provider)
        codes = [f"{entry}.{i}" for i in range(4)]
        events = [_event("EntryRegistered", entry, 1, {"attributes": _attributes(entry, share_type, codes)},
                         provider, "PROVIDER", policy)]
        if self.rng.random() < 0.1:
            events.append(_event("EntryRevised", entry, 2, {
                "attributes": _attributes(entry, share_type, codes) | {"update_frequency": "weekly"},
                "reason": "更新频率调整"}, provider, "PROVIDER", policy))
            if listed:
                self.entries.append((entry, policy, provider, share_type, codes))
        elif self.rng.random() < 0.05:
            events.append(_event("EntryTakenDown", entry, 2, {"reason": "系统停用"}, provider, "PROVIDER", policy))
        elif listed:
            self.entries.append((entry, policy, provider, share_type, codes))
        return events

    def _request(self) -> list[dict[str, Any]]:
        if not self.entries:
            return self._catalog()
        entry, policy, provider, share_type, codes = self.rng.choice(self.entries)
        j = JURISDICTIONS[policy]
        user = self.rng.choice([u for u in j["users"] if u != provider] or j["users"])
        request, items = self._id("req"), codes[:2]
        purpose = "企业开办审批核验"
        submitted = _event("RequestSubmitted", request, 1, {
            "entry_id": entry, "items": items, "purpose": purpose, "scenario": "一网通办",
            "business_process": "开办企业一件事", "method": "INTERFACE", "period_end": "2027-12-31",
            "desensitized": share_type == "NON_SHAREABLE"}, user, "USER", policy)
        if share_type == "UNCONDITIONAL":
            self.grants.append((grant_id(request), policy, user, purpose, items, entry))
            return [submitted]
        auth = j["authority"]
        events = [submitted, _event("ProviderConsulted", request, 2, {}, auth, "DATA_AUTHORITY", policy)]
        if self.rng.random() < 0.8:
            events += [_event("ProviderAnswered", request, 3, {"agrees": True}, provider, "PROVIDER", policy),
                       _event("RequestApproved", request, 4, {"comment": "同意"}, auth, "DATA_AUTHORITY", policy)]
            self.grants.append((grant_id(request), policy, user, purpose, items, entry))
        else:
            events += [_event("ProviderAnswered", request, 3, {"agrees": False, "legal_basis": LAW,
                                                               "reasons": "涉及个人隐私"}, provider, "PROVIDER", policy),
                       _event("RequestRejected", request, 4, {"reasons": "提供部门依法不同意"}, auth,
                              "DATA_AUTHORITY", policy),
                       _event("RequestDisputed", request, 5, {"reason": "审批必需"}, user, "USER", policy),
                       _event("DisputeDecided", request, 6, {"outcome": "UPHOLD_REFUSAL", "reasons": "维持"},
                              auth, "DATA_AUTHORITY", policy)]
        return events

    def _access(self) -> list[dict[str, Any]]:
        if not self.grants:
            return self._request()
        grant, policy, grantee, purpose, items, entry = self.rng.choice(self.grants)
        if self.rng.random() < 0.01:
            purpose = "商业营销"  # outside the granted purpose: flagged, and still kept
        return [_event("DataAccessed", self._id("acc"), 1, {
            "grant_id": grant, "entry_id": entry, "items": items[:1], "purpose": purpose,
            "recipient": grantee, "person": "sys-01", "method": "INTERFACE", "scenario": "一网通办"},
            grantee, "USER", policy)]

    def _objection(self) -> list[dict[str, Any]]:
        ningbo = [e for e in self.entries if e[1] == "ningbo-haishu-2021"]
        if not ningbo:
            return self._catalog()
        entry, policy, provider, _, codes = self.rng.choice(ningbo)
        objection, reporter = self._id("ob"), "nb-civil"
        return [
            _event("ObjectionReported", objection, 1, {
                "entry_id": entry, "kind": "ERROR", "records": ["R-1"], "fields": [codes[0]],
                "expected": "正确值", "channel": "INTERFACE"}, reporter, "USER", policy),
            _event("ObjectionResolved", objection, 2, {
                "outcome": "CORRECTED", "note": "已更正", "correction": {
                    "records": ["R-1"], "fields": [codes[0]], "data_version": f"v-{objection}"}},
                provider, "PROVIDER", policy),
            _event("ResolutionAccepted", objection, 3, {}, reporter, "USER", policy),
        ]

    def _broken(self) -> list[dict[str, Any]]:
        """A conditional registration with no legal basis: rejected (GD-2018 Art. 18)."""
        entry = self._id("gd-health")
        attrs = _attributes(entry, "CONDITIONAL", [f"{entry}.1"])
        del attrs["legal_basis"]
        return [_event("EntryRegistered", entry, 1, {"attributes": attrs}, "gd-health", "PROVIDER",
                       "guangdong-2018")]


def lines(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    yield from Province(seed).events(n)
