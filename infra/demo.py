"""`govshare demo`: a Guangdong and Hebei catalog scenario on a fresh embedded stack."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from events.topics import Topics
from audit import keys
from infra import output
from infra.database import make_engine
from events.signing import DepartmentKey, Keystore
from infra.submit import submit_lines
from projections import queries
from projections.verification import verify

LAW = {"kind": "LAW", "title": "中华人民共和国个人信息保护法", "article": "第十三条"}


def _attrs(title: str, items: list[tuple[str, str]], share_type: str = "UNCONDITIONAL",
           **extra: Any) -> dict[str, Any]:
    return {"title": title, "description": title + "数据", "classification": "政务数据",
            "business_name": title + "业务", "information_system": title + "系统",
            "data_items": [{"code": c, "name": n} for c, n in items], "share_type": share_type,
            "share_methods": ["INTERFACE", "EXCHANGE"], "storage_format": "database table",
            "update_frequency": "daily", "security_level": "L2", "usage_scope": "全省政务部门",
            "usage_requirements": "仅用于本部门履职", "share_period": "长期", **extra}


def _event(kind: str, entry: str, seq: int, payload: dict, dept: str, role: str = "PROVIDER",
           policy: str = "guangdong-2018") -> str:
    return json.dumps({"id": str(uuid.uuid4()), "type": kind, "aggregate_id": entry, "sequence": seq,
                       "actor": {"department": dept, "person": "demo", "role": role},
                       "policy": policy, "payload": payload}, ensure_ascii=False)


def scenario() -> list[tuple[str, list[str]]]:
    # Notices received two days ago, so the deadlines shown are still running.
    received = (date.today() - timedelta(days=2)).isoformat()
    ins, med, lic = "gd-hrss-insurance", "gd-health-diagnosis", "gd-psb-residents"
    hb = "hb-civil-marriage"
    gd_auth = dict(dept="gd-authority", role="DATA_AUTHORITY")
    hb_auth = dict(dept="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
    revised = _attrs("社会保险参保信息", [("GD.HRSS.1", "参保人"), ("GD.HRSS.2", "参保状态"),
                                          ("GD.HRSS.3", "缴费基数")], "CONDITIONAL",
                     share_conditions="仅限社保待遇核定与审批", legal_basis=LAW)
    return [
        ("Providers register their entries", [
            _event("EntryRegistered", ins, 1, {"attributes": _attrs(
                "社会保险参保信息", [("GD.HRSS.1", "参保人"), ("GD.HRSS.2", "参保状态")])}, "gd-hrss"),
            _event("EntryRegistered", lic, 1, {"attributes": _attrs(
                "居民户籍信息", [("GD.PSB.1", "公民身份号码"), ("GD.PSB.2", "户籍地址")],
                base_resource="POPULATION")}, "gd-psb"),
            _event("EntryRegistered", hb, 1, {"attributes": _attrs(
                "婚姻登记信息", [("HB.CIVIL.1", "婚姻状况")])}, "hb-civil", policy="hebei-2023"),
        ]),
        ("Rule-breaking registrations are rejected with their article", [
            _event("EntryRegistered", med, 1, {"attributes": _attrs(
                "诊疗记录", [("GD.HEALTH.1", "诊断结果")], "CONDITIONAL",
                share_conditions="仅限医保结算")}, "gd-health"),
            _event("EntryRegistered", "gd-hrss-copy-of-residents", 1, {"attributes": _attrs(
                "户籍信息副本", [("GD.PSB.1", "公民身份号码")])}, "gd-hrss"),
        ]),
        ("A law is revised: the provider must update its entry and submit it for review", [
            _event("ChangeObligationRaised", ins, 2, {"obligation_id": "pipl-2026", "trigger": "LAW_REVISED",
                   "reference": "个人信息保护法修订", "received_on": received}, **gd_auth),
            _event("RevisionSubmitted", ins, 3, {"revision_id": "rev-1", "attributes": revised,
                   "obligation_id": "pipl-2026"}, "gd-hrss"),
            _event("RevisionApproved", ins, 4, {"revision_id": "rev-1", "comment": "依据充分"}, **gd_auth),
        ]),
        ("Hebei: one extension of a change obligation, a second is refused", [
            _event("ChangeObligationRaised", hb, 2, {"obligation_id": "duties-2026", "trigger": "DUTIES_CHANGED",
                   "reference": "机构职能调整", "received_on": received}, **hb_auth),
            _event("ExtensionRequested", hb, 3, {"obligation_id": "duties-2026", "reason": "系统改造"},
                   "hb-civil", policy="hebei-2023"),
            _event("ExtensionGranted", hb, 4, {"obligation_id": "duties-2026"}, **hb_auth),
            _event("ExtensionRequested", hb, 5, {"obligation_id": "duties-2026", "reason": "再次延期"},
                   "hb-civil", policy="hebei-2023"),
        ]),
        ("A department that is not the provider tries to take an entry down", [
            _event("EntryTakenDown", lic, 2, {"reason": "越权下架"}, "gd-hrss"),
        ]),
    ]


def run_demo() -> int:
    home = Path(tempfile.mkdtemp(prefix="govshare-demo-"))
    env = {**os.environ, "GOVSHARE_HOME": str(home)}
    for name in ("GOVSHARE_BOOTSTRAP_SERVERS", "GOVSHARE_DATABASE_URL", "GOVSHARE_DEPARTMENT_KEYS"):
        env.pop(name, None)
    # Each department's systems hold a key: made here, before the first start, whose first
    # directory registers their public keys; every line is signed with its department's.
    key_dir = home / "department-keys"
    for department in sorted({json.loads(line)["actor"]["department"] for _, lines in scenario() for line in lines}):
        DepartmentKey.generate(department).write(key_dir / f"{department}.pem")
    signing = Keystore(key_dir)
    log = home / "service.log"
    print(f"Starting a fresh embedded stack in {home} (log: {log}) ...")
    service = subprocess.Popen([sys.executable, "-m", "infra.cli", "up"], env=env,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        kafka = {"bootstrap.servers": _wait_ready(home, log, service)}
        topics = Topics()
        for title, lines in scenario():
            print(f"\n== {title}")
            for r in submit_lines(lines, kafka, topics, timeout=60, keys=signing):
                verdict = r["status"].upper()
                detail = f" -> {r['rule']} ({r['article']})" if r.get("rule") else ""
                print(f"  {verdict:9} {r['type']:22} {r['aggregate_id']} #{r['sequence']}{detail}")
        engine = make_engine(f"sqlite:///{home / 'govshare.db'}")
        _wait_projected(engine)
        print("\n== The catalog (govshare query catalog)")
        for e in queries.catalog(engine):
            print(f"  {e['entry_id']:22} {e['title']:10} {e['provider']:10} {e['share_type']:13} "
                  f"v{e['version']} {e['status']}")
        print("\n== gd-hrss-insurance history (govshare query catalog gd-hrss-insurance)")
        for v in queries.entry(engine, "gd-hrss-insurance")["versions"]:
            print(f"  v{v['version']} {v['event_type']:17} {v['attributes']['share_type']:13} {v['note']}")
        print("\n== Deadlines the engine scheduled (govshare query deadlines)")
        for d in queries.deadline_list(engine):
            print(f"  {d['kind']:15} {d['subject_id']:20} {d['party']:9} due {output.instant(d['due_at'], output.zone_of(d), seconds=True)} "
                  f"{d['status']:8} extensions={d['extensions']}  [{d['article']}]")
        print("\n== The audit trail (govshare verify)")
        report = _wait_sealed(engine, keys.load(home / "trail-key.pem").public_key)
        print(f"  {'INTACT' if report.intact else 'TAMPERED'}: {report.records} records in "
              f"{report.checkpoints} signed checkpoints; try: GOVSHARE_HOME={home} govshare trail "
              f"--aggregate gd-hrss-insurance")
        print(f"\nCounts: {queries.counts(engine)}")
        print(f"Query it yourself: GOVSHARE_HOME={home} govshare query catalog --json")
        return 0
    finally:
        service.terminate()
        service.wait(30)


def _wait_ready(home: Path, log: Path, service: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"govshare up exited:\n{log.read_text(errors='replace')}")
        if "service.ready" in log.read_text(errors="replace"):
            return json.loads((home / "broker.json").read_text())["bootstrap"]
        time.sleep(0.1)
    raise SystemExit(f"the service did not start within {timeout}s; see {log}")


def _wait_sealed(engine, public_key: bytes, timeout: float = 30):
    """The trail once the notary has signed every projected record."""
    deadline = time.monotonic() + timeout
    while True:
        report = verify(engine, public_key)
        if (report.records >= sum(queries.counts(engine).values()) and not report.pending) \
                or time.monotonic() > deadline:
            return report
        time.sleep(0.1)


def _wait_projected(engine, timeout: float = 30) -> None:
    expected = sum(len(lines) for _, lines in scenario())
    deadline = time.monotonic() + timeout
    # Two obligations: their deadlines, one of them extended, come from the deadline engine.
    while time.monotonic() < deadline and (
            sum(queries.counts(engine).values()) < expected
            or len(queries.deadline_list(engine)) < 2
            or not any(d["extensions"] for d in queries.deadline_list(engine))):
        time.sleep(0.1)
