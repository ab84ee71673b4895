"""Who may submit what (issue #15): the validator's rules, on the in-memory harness
(tests/harness.py) over SQLite and over PostgreSQL, the whole matrix submitted once per database
kind on the test's clock (EPOCH). Nothing here needs a process or the broker: the validator,
its directory and its keys are the same stages `govshare up` runs (tests/test_identity.py keeps
a signed, a forged and a revoked submission through the real service).

The matrix below is the specification: for every event type a department may submit (one row)
and every kind of actor (one column), the verdict the validator gives. Each row names where its
subject lives and which party is the right actor; the columns say who else tries:

  right      the right actor (the entry's provider, the requester, the entry's data authority,
             the platform administrator)
  same       another department of the right actor's role, in the same jurisdiction (none for a
             data authority or the platform administrator: each jurisdiction has one)
  otherDA    the other jurisdiction's data authority, acting as one under its own profile
  posing     the same, naming the subject's profile as the one it acts under
  user       on a subject a using department started (a request, an objection, an access): the
             requester where another party acts, another using department where the requester does
  also       the other role the type admits: the entry's data authority where the provider or, in
             Ningbo (Art. 29: it finds problem data itself), the reporting user is right
  unknown    a department the directory does not hold, in the right role
  held       a department claiming the right role, which it does not hold (a data authority as
             provider or user, a provider as data authority, a user department as administrator)
  blank      the right actor, with the acting person blank
  space      the right actor, with the acting person only whitespace (an ideographic space)
  auditor    the security team (gd-security), in its own AUDITOR role: it writes nothing
  aud-as     the security team claiming the right role: it writes nothing that way either
  unsigned   the right actor's event without a signature
  key        the right actor's event signed with another department's registered key
  revoked    the right actor's event signed with its own key, registered and then revoked
  stranger   the right actor's event signed with a key the directory never held
  altered    the right actor's signed event, its acting person changed after signing
  own        the entry's provider, in its USER role, requesting or reporting on its own entry (a
             department does not request or object to what it provides: Ningbo Art. 17, 27)

A cell is `ok` (accepted), the short name of the rule that refuses (VERDICTS), or `.` where
no such actor exists for the type.

Places (PLACES): GD Guangdong (entry by gd-hrss, requester gd-amr, authority gd-authority;
same role: gd-psb, gd-health; other authority hb-authority). HB Hebei, whose profile extends a
change obligation (entry by hb-civil; hb-psb; authority hb-authority; other gd-authority). NB
Ningbo Haishu, whose profile extends objection processing (entry by nb-market, reporter nb-civil,
authority nb-authority; nb-health; other gd-authority; leadership group nb-leadership). DIR the
directory and the dismissals of forged messages (platform-admin).

For each type: a setup brings its subject to where the right actor's event is accepted; every
other actor then tries first (refused, so the subject does not move), and the right actor
last. A creation, and the `also` case, each get a subject of their own.
"""
from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from events.operations import dismissal_id
from events.registry import all_kinds
from events.signing import DepartmentKey, Keystore, public_text
from events.submission import signed_line
from processors.grant_keeper import grant_id
from projections import queries
from tests.builders import LAW, PERIOD_END, attributes
from tests.conftest import EPOCH, KEYS, PG_ADMIN_URL, _postgres_answers
from tests.harness import Harness

# The instant the matrix is submitted at: the obligation's day and the urgent limit are set from it.
NOW = EPOCH
BEIJING = ZoneInfo("Asia/Shanghai")

# What each cell of the matrix says: accepted, or refused by this rule ("." no such actor).
VERDICTS = {
    "ok": "accepted",
    # Two refusals under one rule: by the type's roles, and by the subject's own party.
    "perm": "actor-not-permitted",          # the role may not send this type at all
    "party": "actor-not-permitted",         # the role may, but not this department: the refusal
                                            # names the subject's party (its provider, requester...)
    "entry": "authority-of-the-entry",      # a data authority, but not of the subject's jurisdiction
    "juris": "jurisdiction-mismatch",       # a department acting under another jurisdiction's profile
    "unknown": "department-unknown",
    "held": "role-not-held",
    "person": "actor-person-required",
    "unsigned": "submission-unsigned",
    "alien": "signing-key-not-of-department",
    "revoked": "signing-key-revoked",
    "unkey": "signing-key-unknown",
    "invalid": "signature-invalid",
    "ownreq": "requester-is-provider",
    "ownrep": "reporter-is-provider",
    "entrusting": "entrustment-of-jurisdiction",  # an authority approving another jurisdiction's department
}

MATRIX = """
event type                    place by        right  same   otherDA posing user   also   unknown held   blank  space  auditor aud-as unsigned key    revoked  stranger altered  own
EntryRegistered               GD    provider  ok     ok     perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
EntryRevised                  GD    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
EntryTakenDown                GD    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ChangeObligationRaised        GD    provider  ok     party  entry   juris  .      ok     unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RevisionSubmitted             GD    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RevisionApproved              GD    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RevisionRejected              GD    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
AggregationRequired           GD    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DataAggregated                GD    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DataRefreshed                 GD    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ExtensionRequested            HB    provider  ok     party  perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ExtensionGranted              HB    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ExtensionRefused              HB    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ObjectionReported             NB    user      ok     ok     entry   juris  .      ok     unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  ownrep
ObjectionExtensionRequested   NB    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ObjectionExtensionGranted     NB    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ObjectionExtensionRefused     NB    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ObjectionResolved             NB    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ResolutionAccepted            NB    user      ok     .      party   juris  party  party  unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ResolutionContested           NB    user      ok     .      party   juris  party  party  unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
UrgentLimitSet                NB    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RequestSubmitted              GD    user      ok     ok     perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  ownreq
ProviderConsulted             GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ProviderAnswered              GD    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RequestApproved               GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RequestRejected               GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RequestDisputed               GD    user      ok     .      perm    juris  party  .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
RequestWithdrawn              GD    user      ok     .      perm    juris  party  .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DisputeDecided                GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ExchangeAssessed              GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
CrossBorderAssessed           GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
LeadershipDecided             NB    leadership ok     .      perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
GrantRevoked                  GD    provider  ok     party  entry   juris  perm   ok     unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DataAccessed                  GD    user      ok     ok     perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
UsageCorrected                GD    user      ok     .      perm    juris  party  .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DepartmentRegistered          DIR   admin     ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DepartmentChanged             DIR   admin     ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DepartmentKeyRegistered       DIR   admin     ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
DepartmentKeyRevoked          DIR   admin     ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
MessageDismissed              DIR   admin     ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
UncataloguedDataRequested     GD    user      ok     ok     perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
UncataloguedRequestAnswered   GD    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ValueConflictReported         GD    provider  ok     ok     entry   juris  .      ok     unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ConflictNegotiated            GD    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ConflictReferred              GD    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
ConflictCoordinated           GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
SystemProjectSubmitted        GD    provider  ok     .      perm    juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
SystemProjectReviewed         GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
OpenDataRiskAssessed          GD    provider  ok     party  entry   juris  .      ok     unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
OpenDataApplied               GD    authority ok     .      entry   juris  .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
OpenDataProviderAssessed      GD    provider  ok     party  perm    juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
OpenDataApplicationDecided    GD    authority ok     .      entry   juris  perm   .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
EntrustmentApproved           GD    authority ok     .      entrusting juris .      .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
SecurityIncidentReported      GD    provider  ok     ok     perm    juris  ok     .      unknown held   person person perm    held   unsigned alien  revoked  unkey    invalid  .
"""

# --- the parties of each place

@dataclass(frozen=True)
class Place:
    policy: str  # the profile the place's subjects are judged under
    authority: str
    other_authority: str
    provider: str = ""
    other_provider: str = ""
    user: str = ""
    other_user: str = ""
    admin: str = ""
    leadership: str = ""
    unknown: str = "xx-unknown-department"


PLACES = {
    "GD": Place("guangdong-2018", "gd-authority", "hb-authority", "gd-hrss", "gd-psb", "gd-amr", "gd-health"),
    "HB": Place("hebei-2023", "hb-authority", "gd-authority", "hb-civil", "hb-psb"),
    "NB": Place("ningbo-haishu-2021", "nb-authority", "gd-authority", "nb-market", "nb-health", "nb-civil",
                "nb-health", leadership="nb-leadership"),
    "DIR": Place("common", "", "gd-authority", admin="platform-admin"),
}
ROLE = {"provider": "PROVIDER", "user": "USER", "authority": "DATA_AUTHORITY", "admin": "PLATFORM_ADMIN",
        "leadership": "LEADERSHIP_GROUP"}
AUDITOR = "gd-security"
FORGED_ON = "govshare.events.catalog-entry"  # where the dismissed messages lie
PERSON = "li.ming"
# A department of a user's roles, claiming the platform administrator's.
NOT_ADMIN = "gd-amr"


@dataclass(frozen=True)
class Expected:
    verdict: str  # "accepted" or the rule refusing
    party: str | None = None  # for actor-not-permitted: the subject's right party, named or not
    names_party: bool = False

    def met_by(self, result: dict) -> bool:
        named = self.party is not None and self.party in result.get("error", "")
        return _got(result) == self.verdict and named == self.names_party

    def __str__(self) -> str:
        if self.party is None:
            return self.verdict
        return f"{self.verdict} {'naming' if self.names_party else 'not naming'} {self.party}"


@dataclass(frozen=True)
class Row:
    event_type: str
    place: Place
    by: str  # the right party: provider, user, authority or admin
    cells: dict[str, Expected]  # by column; absent where no such actor exists


def read_matrix(matrix: str = MATRIX) -> list[Row]:
    header, *lines = [line.split() for line in matrix.strip().splitlines()]
    columns = header[header.index("right"):]
    rows = []
    for cells in lines:
        assert len(cells) == 3 + len(columns), f"the row {cells[0]} has {len(cells)} cells"
        event_type, place, by, *verdicts = cells
        unknown = set(verdicts) - set(VERDICTS) - {"."}
        assert not unknown and by in ROLE, f"the row {event_type}: {unknown or by}?"
        right = getattr(PLACES[place], by)
        rows.append(Row(event_type, PLACES[place], by,
                        {c: Expected(VERDICTS[v], right if v in ("perm", "party") else None, v == "party")
                         for c, v in zip(columns, verdicts) if v != "."}))
    return rows


@dataclass(frozen=True)
class Actor:
    department: str
    role: str
    person: str = PERSON
    policy: str = ""  # the profile it says it acts under; by default its department's


def actor_of(column: str, row: Row) -> Actor:
    """Who acts in a column of a row (the module's docstring says who each column is)."""
    p, by, role = row.place, row.by, ROLE[row.by]
    right = getattr(p, by)
    return {
        "same": lambda: Actor(p.other_provider if by == "provider" else p.other_user, role),
        "otherDA": lambda: Actor(p.other_authority, "DATA_AUTHORITY"),
        "posing": lambda: Actor(p.other_authority, "DATA_AUTHORITY", policy=p.policy),
        "user": lambda: Actor(p.other_user if by == "user" else p.user, "USER"),
        "also": lambda: Actor(p.authority, "DATA_AUTHORITY"),
        "unknown": lambda: Actor(p.unknown, role),
        "held": lambda: Actor({"authority": p.provider, "admin": NOT_ADMIN}.get(by, p.authority), role),
        "blank": lambda: Actor(right, role, ""),
        "space": lambda: Actor(right, role, " \u3000"),
        "auditor": lambda: Actor(AUDITOR, "AUDITOR"),
        "aud-as": lambda: Actor(AUDITOR, role),
        "own": lambda: Actor(p.provider, "USER"),
    }.get(column, lambda: Actor(right, role))()


# --- the subjects: setups that bring each to where the right actor acts, and each type's event

@dataclass
class Ids:
    """The ids of one subject and what it rests on."""
    entry: str = field(default_factory=lambda: _id("entry"))
    request: str = field(default_factory=lambda: _id("req"))
    objection: str = field(default_factory=lambda: _id("ob"))
    access: str = field(default_factory=lambda: _id("acc"))
    department: str = field(default_factory=lambda: _id("mx"))
    incident: str = field(default_factory=lambda: _id("inc"))
    entrustment: str = field(default_factory=lambda: _id("ent"))
    uncatalogued: str = field(default_factory=lambda: _id("unc"))
    conflict: str = field(default_factory=lambda: _id("cf"))
    other: str = field(default_factory=lambda: _id("entry"))  # another provider's entry
    project: str = field(default_factory=lambda: _id("prj"))
    application: str = field(default_factory=lambda: _id("oda"))
    key: DepartmentKey = field(default_factory=lambda: DepartmentKey.generate("mx"))
    offset: int = field(default_factory=lambda: uuid.uuid4().int % 10**9)  # of a message dismissed

    @property
    def dismissal(self) -> str:
        return dismissal_id(FORGED_ON, 0, self.offset)

    @property
    def code(self) -> str:
        return f"I.{self.entry}"  # item codes are unique per jurisdiction


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def line(event_type: str, aggregate_id: str, sequence: int, payload: dict, actor: Actor) -> dict:
    """An event as a department's system writes it; without a policy it acts under its own."""
    return {"id": str(uuid.uuid4()), "type": event_type, "aggregate_id": aggregate_id, "sequence": sequence,
            "actor": {"department": actor.department, "person": actor.person, "role": actor.role},
            "payload": payload, **({"policy": actor.policy} if actor.policy else {})}


def by(place: Place, party: str) -> Actor:
    return Actor(getattr(place, party), ROLE[party])


def entry_attributes(i: Ids, restricted: bool = False) -> dict:
    if restricted:
        # (the reason of the restriction: Ningbo's measures ask for it beside the legal basis)
        return attributes(codes=[i.code], share_type="CONDITIONAL", legal_basis=LAW, share_conditions="仅限审批业务",
                          restriction_reason="涉及个人信息")
    return attributes(codes=[i.code])


def registered(p: Place, i: Ids, restricted: bool = False) -> dict:
    return line("EntryRegistered", i.entry, 1, {"attributes": entry_attributes(i, restricted)}, by(p, "provider"))


def obligation() -> dict:
    # Received yesterday: a day to come would be refused, and an extension is asked while the
    # limit still runs.
    return {"obligation_id": "ob-1", "trigger": "LAW_REVISED", "reference": "个人信息保护法",
            "received_on": (NOW.astimezone(BEIJING).date() - timedelta(days=1)).isoformat()}


def request(p: Place, i: Ids) -> dict:
    return line("RequestSubmitted", i.request, 1, {
        "entry_id": i.entry, "items": [i.code], "purpose": "企业开办审批", "scenario": "一网通办",
        "business_process": "开办企业一件事", "method": "INTERFACE", "period_end": PERIOD_END}, by(p, "user"))


def access(i: Ids, recipient: str) -> dict:
    return {"grant_id": grant_id(i.request), "entry_id": i.entry, "items": [i.code], "purpose": "企业开办审批",
            "recipient": recipient, "person": "sys-01", "method": "INTERFACE", "scenario": "一网通办"}


def report(p: Place, i: Ids, urgent: bool = False) -> dict:
    return line("ObjectionReported", i.objection, 1, {
        "entry_id": i.entry, "kind": "ERROR", "records": ["91330203MA2AXXXX"], "fields": ["registered_capital"],
        "expected": "500万元", "urgent": urgent}, by(p, "user"))


def department(i: Ids) -> dict:
    return line("DepartmentRegistered", i.department, 1, {
        "name": "矩阵测试部门", "policy_id": "guangdong-2018", "roles": ["PROVIDER", "USER"]}, by(PLACES["DIR"], "admin"))


def key_registered(department_id: str, sequence: int, key: DepartmentKey) -> dict:
    return line("DepartmentKeyRegistered", department_id, sequence,
                {"key_id": key.key_id, "public_key": public_text(key.public_raw)}, by(PLACES["DIR"], "admin"))


Setup = Callable[[Place, Ids], list[list[dict]]]  # steps: each waits for the one before


@dataclass(frozen=True)
class Flow:
    setup: Setup
    subject: str  # which of the Ids the event is about
    sequence: int
    payload: Callable[[Place, Ids, Actor], dict]


def _entry(restricted: bool = False) -> Setup:
    return lambda p, i: [[registered(p, i, restricted)]]


def _after_entry(*events: Callable[[Place, Ids], dict], restricted: bool = False) -> Setup:
    return lambda p, i: [[registered(p, i, restricted)], [e(p, i) for e in events]]


def _on(event_type: str, aggregate: str, sequence: int, party: str, payload: dict) -> Callable[[Place, Ids], dict]:
    return lambda p, i: line(event_type, getattr(i, aggregate), sequence, payload, by(p, party))


REVISION = "rev-1"
_revision = lambda p, i: line("RevisionSubmitted", i.entry, 2, {  # noqa: E731
    "revision_id": REVISION, "attributes": entry_attributes(i)}, by(p, "provider"))
_obligation = lambda p, i: line("ChangeObligationRaised", i.entry, 2, obligation(), by(p, "authority"))  # noqa: E731
_extension = _on("ExtensionRequested", "entry", 3, "provider", {"obligation_id": "ob-1", "reason": "数据量大"})
_consulted = _on("ProviderConsulted", "request", 2, "authority", {})
_answered = _on("ProviderAnswered", "request", 3, "provider", {"agrees": True})
_rejected = _on("RequestRejected", "request", 2, "authority", {"reasons": "超出履职需要"})
_disputed = _on("RequestDisputed", "request", 3, "user", {"reason": "办理审批必需"})
_escalated = _on("DisputeDecided", "request", 4, "authority", {"outcome": "ESCALATE", "reasons": "提交领导小组协调"})
_ob_extension = _on("ObjectionExtensionRequested", "objection", 2, "provider",
                    {"total_natural_days": 30, "reason": "跨部门核查"})
_resolved = _on("ObjectionResolved", "objection", 2, "provider",
                {"outcome": "CONFIRMED_CORRECT", "note": "已核对原始档案，数据无误"})


def _two_entries(p: Place, i: Ids) -> list[list[dict]]:
    other = Actor(p.other_user, "PROVIDER")
    return [[registered(p, i), line("EntryRegistered", i.other, 1, {"attributes": attributes(codes=[f"I.{i.other}"])},
                                    other)]]


def _conflict(i: Ids) -> dict:
    return {"entry_id": i.entry, "other_entry_id": i.other, "items": "出生日期", "description": "两部门登记的出生日期不一致"}


def _reported(p: Place, i: Ids) -> dict:
    return line("ValueConflictReported", i.conflict, 1, _conflict(i), by(p, "provider"))


def _project(i: Ids) -> dict:
    # The entry's attributes name its information system (tests/builders.attributes).
    return {"system": attributes()["information_system"], "description": "社保待遇资格认证系统",
            "entries": [i.entry]}


_RISK = {"reference": "开放风险评估〔2026〕2号", "conclusion": "脱敏后风险可控"}


def _open_entry(p: Place, i: Ids) -> list[list[dict]]:
    opened = attributes(codes=[i.code], open_type="CONDITIONAL_OPEN")
    return [[line("EntryRegistered", i.entry, 1, {"attributes": opened}, by(p, "provider"))],
            [line("OpenDataRiskAssessed", i.entry, 2, _RISK, by(p, "provider"))]]


def _application(i: Ids) -> dict:
    return {"entry_id": i.entry, "applicant": "某交通科技有限公司", "applicant_kind": "LEGAL_PERSON",
            "purpose": "公交线路优化研究", "scenario": "城市交通规划", "security_measures": "数据脱敏、专人管理"}


def _applied(p: Place, i: Ids) -> dict:
    return line("OpenDataApplied", i.application, 1, _application(i), by(p, "authority"))


def _uncatalogued(p: Place) -> dict:
    return {"holder": p.provider, "description": "企业社保缴费明细（目录未列）", "purpose": "企业开办核验",
            "business_process": "开办企业一件事"}


def _fixed(payload: dict) -> Callable[[Place, Ids, Actor], dict]:
    return lambda p, i, a: payload


FLOWS: dict[str, Flow] = {
    # The catalog: an entry, under review where the type asks for it.
    "EntryRegistered": Flow(lambda p, i: [], "entry", 1, lambda p, i, a: {"attributes": entry_attributes(i)}),
    "EntryRevised": Flow(_entry(), "entry", 2,
                         lambda p, i, a: {"attributes": entry_attributes(i), "reason": "补充数据项说明"}),
    "EntryTakenDown": Flow(_entry(), "entry", 2, _fixed({"reason": "并入新目录"})),
    "ChangeObligationRaised": Flow(_entry(), "entry", 2, lambda p, i, a: obligation()),
    "RevisionSubmitted": Flow(_entry(), "entry", 2,
                              lambda p, i, a: {"revision_id": REVISION, "attributes": entry_attributes(i)}),
    "RevisionApproved": Flow(lambda p, i: [[registered(p, i), _revision(p, i)]], "entry", 3,
                             _fixed({"revision_id": REVISION})),
    "RevisionRejected": Flow(lambda p, i: [[registered(p, i), _revision(p, i)]], "entry", 3,
                             _fixed({"revision_id": REVISION, "reasons": "数据项说明不完整"})),
    "ExtensionRequested": Flow(lambda p, i: [[registered(p, i), _obligation(p, i)]], "entry", 3,
                               _fixed({"obligation_id": "ob-1", "reason": "数据量大"})),
    "ExtensionGranted": Flow(lambda p, i: [[registered(p, i), _obligation(p, i), _extension(p, i)]], "entry", 4,
                             _fixed({"obligation_id": "ob-1"})),
    "ExtensionRefused": Flow(lambda p, i: [[registered(p, i), _obligation(p, i), _extension(p, i)]], "entry", 4,
                             _fixed({"obligation_id": "ob-1", "reasons": "理由不充分"})),
    "AggregationRequired": Flow(_entry(), "entry", 2, _fixed({"reason": "一网通办核验需要"})),
    "DataAggregated": Flow(_entry(), "entry", 2, _fixed({"platform": "省政务大数据中心", "records": 1200})),
    "DataRefreshed": Flow(_after_entry(_on("DataAggregated", "entry", 2, "provider", {"platform": "省政务大数据中心"})),
                          "entry", 3, _fixed({"records": 30})),
    # Objections: reported on an entry, then processed by its provider.
    "ObjectionReported": Flow(_entry(), "objection", 1, lambda p, i, a: report(p, i)["payload"]),
    "ObjectionExtensionRequested": Flow(_after_entry(report), "objection", 2,
                                        _fixed({"total_natural_days": 30, "reason": "跨部门核查"})),
    "ObjectionExtensionGranted": Flow(_after_entry(report, _ob_extension), "objection", 3,
                                      _fixed({"total_natural_days": 30})),
    "ObjectionExtensionRefused": Flow(_after_entry(report, _ob_extension), "objection", 3,
                                      _fixed({"reasons": "无须延长"})),
    "ObjectionResolved": Flow(_after_entry(report), "objection", 2,
                              _fixed({"outcome": "CONFIRMED_CORRECT", "note": "已核对原始档案，数据无误"})),
    "ResolutionAccepted": Flow(_after_entry(report, _resolved), "objection", 3, _fixed({})),
    "ResolutionContested": Flow(_after_entry(report, _resolved), "objection", 3, _fixed({"reason": "仍有错误"})),
    "UrgentLimitSet": Flow(_after_entry(lambda p, i: report(p, i, urgent=True)), "objection", 2,
                           lambda p, i, a: {"due_at": (NOW + timedelta(days=1)).isoformat(),
                                            "reason": "涉及群众办事"}),
    # Share requests on a conditional entry (reviewed by the authority), grants on an
    # unconditional one (granted on request).
    "RequestSubmitted": Flow(_entry(restricted=True), "request", 1, lambda p, i, a: request(p, i)["payload"]),
    "ProviderConsulted": Flow(_after_entry(request, restricted=True), "request", 2, _fixed({})),
    "ProviderAnswered": Flow(_after_entry(request, _consulted, restricted=True), "request", 3,
                             _fixed({"agrees": True})),
    "RequestApproved": Flow(_after_entry(request, _consulted, _answered, restricted=True), "request", 4,
                            _fixed({"comment": "同意"})),
    "RequestRejected": Flow(_after_entry(request, restricted=True), "request", 2, _fixed({"reasons": "超出履职需要"})),
    "RequestDisputed": Flow(_after_entry(request, _rejected, restricted=True), "request", 3,
                            _fixed({"reason": "办理审批必需"})),
    "RequestWithdrawn": Flow(_after_entry(request, restricted=True), "request", 2, _fixed({"reason": "业务调整，不再需要"})),
    "DisputeDecided": Flow(_after_entry(request, _rejected, _disputed, restricted=True), "request", 4,
                           _fixed({"outcome": "GRANT", "reasons": "经评判应当共享"})),
    "ExchangeAssessed": Flow(_after_entry(request, restricted=True), "request", 2,
                             _fixed({"reference": "甬数论〔2026〕3号", "conclusion": "确需数据源落地"})),
    "CrossBorderAssessed": Flow(_after_entry(request), "request", 2,
                                _fixed({"reference": "粤网信评〔2026〕1号", "conclusion": "风险可控"})),
    "LeadershipDecided": Flow(_after_entry(request, _rejected, _disputed, _escalated, restricted=True), "request", 5,
                              _fixed({"outcome": "GRANT", "reasons": "经领导小组协调，应当共享"})),
    "GrantRevoked": Flow(_after_entry(request), "request", 2, _fixed({"reason": "涉及个人信息", "legal_basis": LAW})),
    "DataAccessed": Flow(_after_entry(request), "access", 1, lambda p, i, a: access(i, a.department)),
    "UsageCorrected": Flow(_after_entry(request, lambda p, i: line("DataAccessed", i.access, 1, access(i, p.user),
                                                                   by(p, "user"))),
                           "access", 2, _fixed({"measures": "停止营销用途，删除副本"})),
    # The directory, kept by the platform administrator.
    "DepartmentRegistered": Flow(lambda p, i: [], "department", 1, lambda p, i, a: department(i)["payload"]),
    "DepartmentChanged": Flow(lambda p, i: [[department(i)]], "department", 2, lambda p, i, a: {
        "name": "矩阵测试部门（更名）", "policy_id": "guangdong-2018", "roles": ["PROVIDER"], "reason": "职能调整"}),
    "DepartmentKeyRegistered": Flow(lambda p, i: [[department(i)]], "department", 2,
                                    lambda p, i, a: key_registered(i.department, 2, i.key)["payload"]),
    "DepartmentKeyRevoked": Flow(lambda p, i: [[department(i), key_registered(i.department, 2, i.key)]],
                                 "department", 3, lambda p, i, a: {"key_id": i.key.key_id, "reason": "密钥泄露"}),
    # A department's own security incident, reported.
    "SecurityIncidentReported": Flow(lambda p, i: [], "incident", 1, lambda p, i, a: {
        "description": "数据被越权导出", "entries": [], "remedies": "已停用账号", "users_informed": True,
        "reported_to": "省委网信办"}),
    # Conflicting values between the provider's entry and another provider's (gd-health's).
    "ValueConflictReported": Flow(_two_entries, "conflict", 1, lambda p, i, a: _conflict(i)),
    "ConflictNegotiated": Flow(lambda p, i: _two_entries(p, i) + [[_reported(p, i)]], "conflict", 2,
                               _fixed({"agreement": "以公安户籍数据为准，卫健部门同步更新"})),
    "ConflictReferred": Flow(lambda p, i: _two_entries(p, i) + [[_reported(p, i)]], "conflict", 2,
                             _fixed({"reason": "双方均认为本部门数据准确"})),
    "ConflictCoordinated": Flow(lambda p, i: _two_entries(p, i) + [[_reported(p, i)], [line(
        "ConflictReferred", i.conflict, 2, {"reason": "协商未果"}, by(p, "provider"))]], "conflict", 3,
        _fixed({"decision": "以采集部门数据为准"})),
    # A new system's project, with the entry cataloguing its data, reviewed by the authority.
    "SystemProjectSubmitted": Flow(_entry(), "project", 1, lambda p, i, a: _project(i)),
    "SystemProjectReviewed": Flow(lambda p, i: [[registered(p, i)], [line("SystemProjectSubmitted", i.project, 1,
                                                                          _project(i), by(p, "provider"))]],
                                  "project", 2, _fixed({"approved": True, "opinion": "数据已编目，同意立项"})),
    # Open data: the opening risk assessed on a conditionally open entry, an application for
    # it, assessed by the provider and decided by the authority.
    "OpenDataRiskAssessed": Flow(_entry(), "entry", 2, _fixed(_RISK)),
    "OpenDataApplied": Flow(_open_entry, "application", 1, lambda p, i, a: _application(i)),
    "OpenDataProviderAssessed": Flow(lambda p, i: _open_entry(p, i) + [[_applied(p, i)]], "application", 2,
                                     _fixed({"agrees": True})),
    "OpenDataApplicationDecided": Flow(
        lambda p, i: _open_entry(p, i) + [[_applied(p, i)], [line(
            "OpenDataProviderAssessed", i.application, 2, {"agrees": True}, by(p, "provider"))]],
        "application", 3, _fixed({"approved": True, "agreement": "数据利用协议〔2026〕5号"})),
    # Data outside the catalog, asked of the department that holds it, which answers.
    "UncataloguedDataRequested": Flow(lambda p, i: [], "uncatalogued", 1, lambda p, i, a: _uncatalogued(p)),
    "UncataloguedRequestAnswered": Flow(
        lambda p, i: [[line("UncataloguedDataRequested", i.uncatalogued, 1, _uncatalogued(p), by(p, "user"))]],
        "uncatalogued", 2, _fixed({"agrees": True, "reasons": "按双方约定接口提供"})),
    # A contractor a using department may entrust, approved by its data authority.
    "EntrustmentApproved": Flow(lambda p, i: [], "entrustment", 1, lambda p, i, a: {
        "department": p.user, "contractor": "矩阵数据科技有限公司", "purpose": "数据清洗", "reference": "批〔2026〕1号",
        "valid_until": PERIOD_END}),
    # A message no stage wrote, dismissed by the platform administrator.
    "MessageDismissed": Flow(lambda p, i: [], "dismissal", 1, lambda p, i, a: {
        "topic": FORGED_ON, "partition": 0, "offset": i.offset, "sha256": "0" * 64, "stage": "projector",
        "reason": "已核查：伪造写入"}),
}
# Cases on a subject of their own: an event that creates its subject, and the second party
# allowed, whose accepted event would move the subject the right actor acts on.
CREATES = {"EntryRegistered", "ObjectionReported", "RequestSubmitted", "DataAccessed", "DepartmentRegistered",
           "MessageDismissed", "SecurityIncidentReported", "EntrustmentApproved",
           "UncataloguedDataRequested", "ValueConflictReported", "SystemProjectSubmitted",
           "OpenDataApplied"}
OWN_SUBJECT = {"also"}


# --- signing: each case's line signed as its column says

# The first directory registers each department (sequence 1) and its session key (2).
FIRST_DIRECTORY_SEQUENCE = 2


def revoked_keys(rows: list[Row]) -> tuple[dict[str, DepartmentKey], list[dict]]:
    """A second key for each right actor's department, registered and revoked by the platform
    administrator; the events that do it."""
    keys = {getattr(r.place, r.by): None for r in rows}
    events = []
    for name in keys:
        keys[name] = key = DepartmentKey.generate(name)
        events += [key_registered(name, FIRST_DIRECTORY_SEQUENCE + 1, key),
                   line("DepartmentKeyRevoked", name, FIRST_DIRECTORY_SEQUENCE + 2,
                        {"key_id": key.key_id, "reason": "测试：注销"}, by(PLACES["DIR"], "admin"))]
    return keys, events


def forger(acting: str) -> str:
    """Whose registered key signs the `key` column's event, which names `acting`."""
    return "gd-psb" if acting != "gd-psb" else "gd-amr"


def signed(event: dict, column: str, revoked: dict[str, DepartmentKey], now: datetime) -> str:
    acting = event["actor"]["department"]
    if column == "unsigned":
        return json.dumps(event, ensure_ascii=False)
    if column == "key":
        key = DepartmentKey.read(KEYS / f"{forger(acting)}.pem")
    elif column == "revoked":
        key = revoked[acting]
    elif column == "stranger":
        key = DepartmentKey.generate(acting)
    elif (KEYS / f"{acting}.pem").is_file():
        key = DepartmentKey.read(KEYS / f"{acting}.pem")
    else:
        key = DepartmentKey.generate(acting)  # a department the directory does not know
    sent = json.loads(signed_line(json.dumps(event, ensure_ascii=False), Keystore(single=key), now=now))
    if column == "altered":
        sent["actor"]["person"] += ".x"  # covered by the signature: it no longer verifies
    return json.dumps(sent, ensure_ascii=False)


# --- running the matrix

@dataclass(frozen=True)
class Case:
    event_type: str
    column: str
    expected: Expected
    line: str


@dataclass
class Judged:
    cases: list[Case]
    results: list[dict]
    seconds: float
    database: str
    listed: dict[str, dict]  # the rejections view's row of each refused event, by its id


def _submit(harness: Harness, lines: list[str], keys: Keystore | None = None) -> list[dict]:
    return harness.sim.submit(lines, keys=keys, at=NOW)


def _settled(harness: Harness, steps: list[list[tuple[str, dict]]]) -> None:
    """Each step submitted once every earlier one is decided; all must be accepted."""
    for step in steps:
        if not step:
            continue
        results = _submit(harness, [json.dumps(e, ensure_ascii=False) for _, e in step])
        wrong = [(t, e["type"], r["status"], r.get("rule"), r.get("error")) for (t, e), r in zip(step, results)
                 if r["status"] != "accepted"]
        assert not wrong, "setup refused:\n" + "\n".join(map(str, wrong))


def run_matrix(harness: Harness, database: str) -> Judged:
    started = time.monotonic()
    rows = read_matrix()
    revoked, revocations = revoked_keys(rows)
    steps: list[list[tuple[str, dict]]] = [[("revoked keys", e) for e in revocations]]
    plan: list[tuple[Row, str, Ids]] = []  # (row, column, subject), in submission order
    for row in rows:
        shared = Ids()
        # Every other actor first, on the one subject; the right actor last.
        for column in [c for c in row.cells if c != "right"] + ["right"]:
            own = row.event_type in CREATES or column in OWN_SUBJECT
            plan.append((row, column, Ids() if own else shared))
    subjects = {id(i): (row, i) for row, _, i in plan}
    for row, i in subjects.values():
        for n, step in enumerate(FLOWS[row.event_type].setup(row.place, i)):
            while len(steps) <= n:
                steps.append([])
            steps[n] += [(row.event_type, e) for e in step]
    _settled(harness, steps)

    cases = []
    for row, column, i in plan:
        flow, acting = FLOWS[row.event_type], actor_of(column, row)
        event = line(row.event_type, getattr(i, flow.subject), flow.sequence, flow.payload(row.place, i, acting),
                     acting)
        cases.append(Case(row.event_type, column, row.cells[column], signed(event, column, revoked, NOW)))
    results = _submit(harness, [c.line for c in cases], keys=Keystore())  # nothing signed but what is
    listed = {r["rejected_event_id"]: r for r in queries.rejected(harness.engine)}
    return Judged(cases, results, time.monotonic() - started, database, listed)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def judged(request, tmp_path_factory) -> Judged:
    """One harness per database kind (a fresh SQLite file, or a PostgreSQL schema of its own),
    the whole matrix submitted to it once and shared by the tests below."""
    home = tmp_path_factory.mktemp("matrix")
    schema, admin = None, None
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'govshare.db'}"
    else:
        if not _postgres_answers():
            pytest.skip(f"PostgreSQL does not answer at {PG_ADMIN_URL}")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'create schema "{schema}"'))
        url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    harness = Harness(url, home / "home", at=NOW)
    try:
        yield run_matrix(harness, request.param)
    finally:
        harness.sim.close()
        if schema:
            with admin.connect() as conn:
                conn.execute(text(f'drop schema "{schema}" cascade'))
            admin.dispose()


def _got(result: dict) -> str:
    return "accepted" if result["status"] == "accepted" else result.get("rule") or result["status"]


def test_the_matrix_names_every_type_a_department_may_submit():
    """A new publishable type fails here until the matrix says who may submit it."""
    publishable = {k.event_type for k in all_kinds() if k.senders}
    assert {r.event_type for r in read_matrix()} == publishable
    assert set(FLOWS) == publishable


def test_every_actor_gets_the_verdict_the_matrix_gives(judged):
    assert len(judged.results) == len(judged.cases)
    mismatches = [(c.event_type, c.column, str(c.expected), f"{_got(r)}: ...{r.get('error', '')[-90:]}")
                  for c, r in zip(judged.cases, judged.results) if not c.expected.met_by(r)]
    table = "\n".join(f"  {t:<28} {col:<9} expected {exp:<48} got {got}" for t, col, exp, got in mismatches)
    assert not mismatches, f"{len(mismatches)} of {len(judged.cases)} cells differ ({judged.database}):\n{table}"


def test_every_refusal_names_its_article(judged):
    bare = [(c.event_type, c.column, r.get("rule")) for c, r in zip(judged.cases, judged.results)
            if r["status"] == "rejected" and not (r.get("article") or "").strip()]
    assert not bare


def test_every_refusal_is_listed_under_the_department_whose_key_signed_it(judged):
    """Another department's registered key (the `key` column): listed under that department,
    the department the event named beside it. Every other refusal: under the department named,
    which signed it or whose signature nothing proves (unsigned, an unknown key, altered)."""
    wrong = []
    for case, result in zip(judged.cases, judged.results):
        if result["status"] != "rejected":
            continue
        named = json.loads(case.line)["actor"]["department"]
        expected = (forger(named), named) if case.column == "key" else (named, None)
        row = judged.listed.get(result["event_id"], {})
        if (row.get("attempted_by_department"), row.get("claimed_department")) != expected:
            wrong.append(f"  {case.event_type:<28} {case.column:<9} expected {expected}, listed "
                         f"{(row.get('attempted_by_department'), row.get('claimed_department'))}")
    assert not wrong, f"{len(wrong)} refusals listed wrongly ({judged.database}):\n" + "\n".join(wrong)


def test_the_figures(judged):
    """Printed for the record (`pytest -rA`): how many cases, how many accepted, refused by rule."""
    verdicts = Counter(_got(r) for r in judged.results)
    accepted = verdicts.pop("accepted", 0)
    print(f"\nauthorization matrix on {judged.database}: {len(judged.cases)} cases over "
          f"{len({c.event_type for c in judged.cases})} event types in {judged.seconds:.0f}s; "
          f"{accepted} accepted, {sum(verdicts.values())} refused:")
    for rule, n in sorted(verdicts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {n:>4} {rule}")
    party = sum(1 for c in judged.cases if c.expected.names_party)
    print(f"       (of actor-not-permitted, {party} refused as not the subject's own party)")
    assert accepted == sum(1 for c in judged.cases if c.expected.verdict == "accepted")
