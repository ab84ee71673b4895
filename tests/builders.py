"""Given-style builders: the JSON lines an integrating system would publish."""
from __future__ import annotations

import copy
import json
import uuid
from typing import Any

POLICY = "guangdong-2018"


def actor(department: str, role: str = "PROVIDER", person: str = "li.ming") -> dict[str, str]:
    return {"department": department, "person": person, "role": role}


def attributes(*, codes: list[str] | None = None, share_type: str = "UNCONDITIONAL",
               **overrides: Any) -> dict[str, Any]:
    codes = codes or [f"X.{uuid.uuid4().hex[:8]}"]
    attrs = {
        "title": "社会保险参保信息", "description": "个人社会保险参保登记与缴费信息",
        "classification": "社会保障", "business_name": "社会保险登记",
        "information_system": "广东省社会保险信息系统",
        "data_items": [{"code": c, "name": f"信息项{i + 1}"} for i, c in enumerate(codes)],
        "share_type": share_type, "share_methods": ["INTERFACE"],
        "storage_format": "数据库表", "update_frequency": "每日", "security_level": "L2",
        "usage_scope": "全省政务部门", "usage_requirements": "仅用于本部门履职",
        "share_period": "长期",
    }
    attrs.update(overrides)
    return attrs


LAW = {"kind": "LAW", "title": "中华人民共和国个人信息保护法", "article": "Art. 13"}


def event(event_type: str, entry_id: str, sequence: int, payload: dict[str, Any], *,
          department: str = "gd-hrss", role: str = "PROVIDER", policy: str = POLICY,
          event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or str(uuid.uuid4()), "type": event_type, "aggregate_id": entry_id,
            "sequence": sequence, "actor": actor(department, role), "policy": policy,
            "payload": copy.deepcopy(payload)}


def registered(entry_id: str, *, department: str = "gd-hrss", policy: str = POLICY,
               **attrs: Any) -> dict[str, Any]:
    return event("EntryRegistered", entry_id, 1, {"attributes": attributes(**attrs)},
                 department=department, policy=policy)


def lines(*events: dict[str, Any]) -> list[str]:
    return [json.dumps(e, ensure_ascii=False) for e in events]


def new_id(prefix: str = "entry") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


GD = "guangdong-2018"
AUTH = dict(department="gd-authority", role="DATA_AUTHORITY")
USER = dict(department="gd-amr", role="USER")
PROVIDER = dict(department="gd-hrss", role="PROVIDER")


# Far enough ahead that a request sent to the running service (on the system clock) never asks
# for a period that has already ended.
PERIOD_END = "2099-12-31"


def request(request_id, entry_id, items=("I.1",), *, policy=GD, user=USER, desensitized=False,
            purpose="企业开办审批", business_process="开办企业一件事", method="INTERFACE",
            period_end=PERIOD_END):
    return event("RequestSubmitted", request_id, 1, {
        "entry_id": entry_id, "items": list(items), "purpose": purpose, "scenario": "一网通办",
        "business_process": business_process, "method": method, "period_end": period_end,
        "desensitized": desensitized}, policy=policy, **user)


def reviewed(request_id):
    """The review after submission: the provider consulted and agreeing (sequences 2 and 3)."""
    return [event("ProviderConsulted", request_id, 2, {}, **AUTH),
            event("ProviderAnswered", request_id, 3, {"agrees": True}, **PROVIDER)]


def approved(request_id):
    return event("RequestApproved", request_id, 4, {"comment": "同意"}, **AUTH)


def signed(envelope, value: bytes):
    """The envelope signed by its department's test key over these payload bytes: what a
    publisher that encodes its own payload (another Avro library, an SDK) signs."""
    from events.signing import Keystore
    return Keystore.from_environment().for_department(envelope.actor.department).sign(envelope, value)
