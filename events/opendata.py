"""Open data (Ningbo Art. 21-25, 32): conditionally open data (有条件开放) is used by citizens,
companies and organisations only on an application the district data authority submits through
the open platform, with the use, the scenario and the security measures, assessed by the
authority and the providing department, and a data-use agreement (数据利用协议) signed. Data is
opened only after a security risk assessment (安全风险评估, Art. 32), recorded on its entry."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "open-data-application"


class ApplicantKind(enum.StrEnum):
    CITIZEN = "CITIZEN"  # 公民
    LEGAL_PERSON = "LEGAL_PERSON"  # 法人
    ORGANIZATION = "ORGANIZATION"  # 其他组织


def _open_event(name: str, senders: tuple[Role, ...]):
    return event_type(name, schema=f"govshare.opendata.{name}", aggregate=AGGREGATE, senders=senders)


@_open_event("OpenDataApplied", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class OpenDataApplied:
    """The data authority submitted, through the open platform, an application for a
    conditionally open entry's data (Ningbo Art. 25)."""
    entry_id: str
    applicant: str
    applicant_kind: ApplicantKind
    purpose: str  # 数据用途
    scenario: str  # 应用场景
    security_measures: str  # 安全保障措施


@_open_event("OpenDataProviderAssessed", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class OpenDataProviderAssessed:
    """The providing department gave its assessment of the application (综合评估)."""
    agrees: bool
    reasons: str = ""


@_open_event("OpenDataApplicationDecided", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class OpenDataApplicationDecided:
    """The data authority decided the application: approved with the signed data-use agreement
    (签订数据利用协议), or refused with reasons."""
    approved: bool
    agreement: str = ""  # the data-use agreement's reference, where approved
    reasons: str = ""
