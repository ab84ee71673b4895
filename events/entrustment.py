"""Entrusted third parties (Hebei: 政务部门委托第三方…应当经过严格的批准程序): a using department may
have a contractor process shared data for it only once the data authority of its jurisdiction
approved the entrustment. Data provided to an approved contractor, within the approval's period,
is the department's own use; to anyone else it is provision to a third party."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "entrustment"


@event_type("EntrustmentApproved", schema="govshare.entrustment.EntrustmentApproved", aggregate=AGGREGATE,
            senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class EntrustmentApproved:
    """The data authority approved a department of its jurisdiction entrusting a contractor
    (委托第三方) with shared data, for a purpose, until a day."""
    department: str  # the entrusting (using) department
    contractor: str  # as accesses name it as their recipient (its name or 统一社会信用代码)
    purpose: str
    reference: str  # the approval's document (批准文件)
    valid_until: date
