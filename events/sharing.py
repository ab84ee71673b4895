"""Share requests, grants and data use (DOMAIN.md §2)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from events.catalog import LegalBasis, ShareMethod
from events.envelope import Role
from events.kinds import Ending, event_type

REQUEST = "share-request"
GRANT = "grant"
ACCESS = "data-access"
SUPERVISION = "usage-supervision"


class DisputeOutcome(enum.StrEnum):
    GRANT = "GRANT"
    UPHOLD_REFUSAL = "UPHOLD_REFUSAL"
    ESCALATE = "ESCALATE"


class LeadershipOutcome(enum.StrEnum):
    """The leadership group's decision on a problem escalated to it: final, nothing above it."""
    GRANT = "GRANT"
    UPHOLD_REFUSAL = "UPHOLD_REFUSAL"


def _event(name: str, aggregate: str, senders: tuple[Role, ...] = ()):
    return event_type(name, schema=f"govshare.sharing.{name}", aggregate=aggregate, senders=senders)


class SystemType(enum.StrEnum):
    """The kinds of systems Ningbo Art. 19 shares by different methods."""
    SERVICE = "SERVICE"  # 办事应用类: by interface
    ANALYSIS = "ANALYSIS"  # 决策分析类: by the platform's central analysis


@_event("RequestSubmitted", REQUEST, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RequestSubmitted:
    """A using department asked for data of a catalog entry (Ningbo Art. 17)."""
    entry_id: str
    items: tuple[str, ...]
    purpose: str
    scenario: str
    business_process: str
    method: ShareMethod
    period_end: date
    desensitized: bool = False
    legal_basis: LegalBasis | None = None
    # The kind of system the data serves, which decides the method where a text says so (Ningbo
    # Art. 19); None where the requester does not say.
    system_type: SystemType | None = None


@_event("ProviderConsulted", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderConsulted:
    """The data authority asked the provider for its opinion."""
    note: str = ""


@_event("ProviderAnswered", REQUEST, senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderAnswered:
    """The provider agreed, or refused citing a legal basis."""
    agrees: bool
    legal_basis: LegalBasis | None = None
    reasons: str = ""


@_event("RequestApproved", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RequestApproved:
    """The data authority approved the request."""
    comment: str = ""


@_event("RequestRejected", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RequestRejected:
    """The data authority rejected the request, with reasons."""
    reasons: str


@_event("RequestDisputed", REQUEST, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RequestDisputed:
    """The requester disputed a refusal."""
    reason: str


@_event("RequestWithdrawn", REQUEST, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RequestWithdrawn(Ending):
    """The requesting department withdrew its own request while it waited for a decision: the
    review ends, and with it the limits running on the request."""
    reason: str = ""


@_event("DisputeDecided", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class DisputeDecided:
    """The authority granted, upheld the refusal, or escalated to the leadership group."""
    outcome: DisputeOutcome
    reasons: str


@_event("CrossBorderAssessed", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class CrossBorderAssessed:
    """The data authority recorded the security assessment (安全评估审核) that a granted
    request's data may be provided abroad (Ningbo Art. 32: 公共数据不得跨境流通，因业务需要确需向
    境外提供的，应当…进行安全评估审核). Without one, every use abroad is a violation."""
    reference: str  # the assessment's document number
    conclusion: str


@_event("ExchangeAssessed", REQUEST, senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ExchangeAssessed:
    """The data authority recorded the assessment (论证) that a request truly needs the data to
    land at the user by exchange (数据源落地: Ningbo Art. 19, by the city's data authority)."""
    reference: str  # the assessment's document number
    conclusion: str


@_event("LeadershipDecided", REQUEST, senders=(Role.LEADERSHIP_GROUP,))
@dataclass(frozen=True, kw_only=True, slots=True)
class LeadershipDecided:
    """The leadership group decided a problem escalated to it (Ningbo Art. 18: 领导小组协调;
    GD-2008 Art. 22: 报请信息化工作领导小组决定): grant, or uphold the refusal. Final: the
    problem stays on the list with its decision."""
    outcome: LeadershipOutcome
    reasons: str


@_event("GrantOpened", GRANT)
@dataclass(frozen=True, kw_only=True, slots=True)
class GrantOpened:
    """Access opened for exactly the requested items, purpose, scenario, method and period."""
    request_id: str
    entry_id: str
    grantee: str
    items: tuple[str, ...]
    purpose: str
    scenario: str
    method: ShareMethod
    valid_until: datetime
    desensitized: bool = False
    automatic: bool = False


@_event("GrantRevoked", REQUEST, senders=(Role.DATA_AUTHORITY, Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class GrantRevoked:
    """The authority or the provider revoked the grant a request obtained: a refusal after the
    fact, so the provider cites a legal basis (GD-2018 Art. 16) and the authority its reasons."""
    reason: str
    legal_basis: LegalBasis | None = None


@_event("GrantWithdrawn", GRANT)
@dataclass(frozen=True, kw_only=True, slots=True)
class GrantWithdrawn:
    """The entry was taken down (下架): nothing is left to share under the grant, so it closed."""
    reason: str


@_event("GrantNarrowed", GRANT)
@dataclass(frozen=True, kw_only=True, slots=True)
class GrantNarrowed:
    """A revision removed data items the grant named: the grant keeps the items the entry still
    has, and later use of the removed ones is outside it."""
    items: tuple[str, ...]
    removed: tuple[str, ...]


@_event("GrantExpired", GRANT)
@dataclass(frozen=True, kw_only=True, slots=True)
class GrantExpired:
    """The share period ended."""
    expired_at: datetime


@_event("DataAccessed", ACCESS, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class DataAccessed:
    """A using department's system accessed shared data (事中留痕). Version 2 states the method
    and scenario of the use; a version-1 access reads with neither (None). Version 3 says
    whether the data was provided abroad (跨境, Ningbo Art. 32); earlier versions read False."""
    entry_id: str
    items: tuple[str, ...]
    purpose: str
    recipient: str
    person: str
    grant_id: str | None = None
    method: ShareMethod | None = None
    scenario: str | None = None
    abroad: bool = False


@_event("UsageCorrected", ACCESS, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class UsageCorrected:
    """The using department corrected a use flagged outside its grant, saying how (限期改正,
    GD-2008 Art. 40); it meets the supervision deadline the flag opened."""
    measures: str


@_event("UsageViolationFlagged", SUPERVISION)
@dataclass(frozen=True, kw_only=True, slots=True)
class UsageViolationFlagged:
    """An access did not fit its grant: a supervision item."""
    access_id: str
    department: str
    violations: tuple[str, ...]
    article: str
    grant_id: str | None = None
