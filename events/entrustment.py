"""Entrusted third parties (Hebei: 政务部门委托第三方…应当经过严格的批准程序) and cooperation with
companies (Ningbo Art. 23: 开展公共数据合作时，应当征得区大数据主管机构同意，并签订书面合作协议): a
department may have a contractor process shared data for it, or cooperate on public data with a
citizen, company or organisation, only once the data authority of its jurisdiction approved it
(for cooperation, with the written agreement signed). Data provided to an approved contractor or
partner, within the approval's period, is the department's own use; to anyone else it is
provision to a third party."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "entrustment"


class EntrustmentKind(enum.StrEnum):
    ENTRUSTED = "ENTRUSTED"  # 委托第三方: a contractor working for the department (Hebei)
    COOPERATION = "COOPERATION"  # 公共数据合作: a partner the department cooperates with (Ningbo Art. 23)


@event_type("EntrustmentApproved", schema="govshare.entrustment.EntrustmentApproved", aggregate=AGGREGATE,
            senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class EntrustmentApproved:
    """The data authority approved a department of its jurisdiction entrusting a contractor
    (委托第三方) with shared data, for a purpose, until a day."""
    department: str  # the entrusting (using) department
    contractor: str  # as accesses name it as their recipient (its name or 统一社会信用代码)
    purpose: str
    reference: str  # the approval's document (批准文件); for cooperation, the written agreement (书面合作协议)
    valid_until: date
    kind: EntrustmentKind = EntrustmentKind.ENTRUSTED
