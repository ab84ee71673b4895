"""Information-system projects (GD-2018 Art. 11: 政务部门新建业务系统，要同步规划编制有关政务数据
资源目录，作为项目立项审批条件; Ningbo Art. 9: 由区大数据主管机构出具审核意见；审核意见作为审批立项…
的依据): a department submits a new system's project with the catalog entries of the data it will
hold; the data authority reviews it, and approves only a project whose data is catalogued."""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "system-project"


@event_type("SystemProjectSubmitted", schema="govshare.project.SystemProjectSubmitted", aggregate=AGGREGATE,
            senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class SystemProjectSubmitted:
    """A department submitted a new information system's project for review, naming the
    catalog entries it registered for the system's data."""
    system: str  # the information system's name, as its entries state it (information_system)
    description: str
    entries: tuple[str, ...]


@event_type("SystemProjectReviewed", schema="govshare.project.SystemProjectReviewed", aggregate=AGGREGATE,
            senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class SystemProjectReviewed:
    """The data authority gave its review opinion (审核意见), the basis of the project's approval."""
    approved: bool
    opinion: str
