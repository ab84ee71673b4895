"""Security incidents (Ningbo Art. 31; GD-2018 Art. 27): a department whose data was lost,
damaged, leaked or tampered with reports it at once, with the remedies it took, whether it told
the users who may be affected, and to which security authority it reported. Recorded as it is
said: a report is never refused for what it admits (users not told shows as such), only for what
it leaves out."""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "incident"


@event_type("SecurityIncidentReported", schema="govshare.incident.SecurityIncidentReported", aggregate=AGGREGATE,
            senders=(Role.PROVIDER, Role.USER))
@dataclass(frozen=True, kw_only=True, slots=True)
class SecurityIncidentReported:
    """A department reported a data security incident of its own (发生重大数据安全事故)."""
    description: str
    entries: tuple[str, ...]  # the catalog entries whose data it concerns (may be none)
    remedies: str  # 及时采取补救措施
    users_informed: bool  # 告知可能受到影响的用户
    reported_to: str  # 按照规定向信息安全主管部门报告: which authority
