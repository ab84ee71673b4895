"""Catalog events (DOMAIN.md §1): what providers and data authorities do to catalog entries."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from events.envelope import Role
from events.kinds import Ending, event_type

AGGREGATE = "catalog-entry"


class ShareType(enum.StrEnum):
    UNCONDITIONAL = "UNCONDITIONAL"
    CONDITIONAL = "CONDITIONAL"
    NON_SHAREABLE = "NON_SHAREABLE"


class LegalBasisKind(enum.StrEnum):
    LAW = "LAW"
    ADMINISTRATIVE_REGULATION = "ADMINISTRATIVE_REGULATION"
    LOCAL_REGULATION = "LOCAL_REGULATION"
    RULE = "RULE"
    INTERNAL_RULE = "INTERNAL_RULE"


class BaseResource(enum.StrEnum):
    NONE = "NONE"
    POPULATION = "POPULATION"
    LEGAL_ENTITY = "LEGAL_ENTITY"
    NATURAL_RESOURCE = "NATURAL_RESOURCE"
    E_LICENCE = "E_LICENCE"


class ShareMethod(enum.StrEnum):
    INTERFACE = "INTERFACE"
    EXCHANGE = "EXCHANGE"
    PLATFORM_ANALYSIS = "PLATFORM_ANALYSIS"


class OpenType(enum.StrEnum):
    OPEN = "OPEN"
    CONDITIONAL_OPEN = "CONDITIONAL_OPEN"
    NOT_OPEN = "NOT_OPEN"


class ChangeTrigger(enum.StrEnum):
    LAW_REVISED = "LAW_REVISED"
    DUTIES_CHANGED = "DUTIES_CHANGED"


@dataclass(frozen=True, kw_only=True, slots=True)
class LegalBasis:
    kind: LegalBasisKind
    title: str
    article: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DataItem:
    code: str
    name: str
    data_type: str = "string"
    base_item: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class EntryAttributes:
    title: str
    description: str
    classification: str
    business_name: str
    information_system: str
    data_items: tuple[DataItem, ...]
    share_type: ShareType
    share_methods: tuple[ShareMethod, ...]
    storage_format: str
    update_frequency: str
    security_level: str
    usage_scope: str
    share_conditions: str | None = None
    legal_basis: LegalBasis | None = None
    base_resource: BaseResource = BaseResource.NONE
    for_administrative_licensing: bool = False
    open_type: OpenType = OpenType.NOT_OPEN
    usage_requirements: str | None = None
    share_period: str | None = None
    restriction_reason: str | None = None
    # The departments the usage scope admits as requesters (Hebei 使用范围); empty: any.
    usage_departments: tuple[str, ...] = ()
    # A law bars even desensitized provision (Ningbo Art. 16: 法律、法规另有规定的除外).
    desensitization_barred: bool = False

    @property
    def item_codes(self) -> frozenset[str]:
        return frozenset(item.code for item in self.data_items)


def _catalog_event(name: str, senders: tuple[Role, ...]):
    return event_type(name, schema=f"govshare.catalog.{name}", aggregate=AGGREGATE,
                      senders=senders)



@_catalog_event("EntryRegistered", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class EntryRegistered:
    """A provider registered a new catalog entry; it is published as version 1."""
    attributes: EntryAttributes


@_catalog_event("EntryRevised", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class EntryRevised:
    """The provider revised an entry; the attributes become its next version."""
    attributes: EntryAttributes
    reason: str


@_catalog_event("EntryTakenDown", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class EntryTakenDown(Ending):
    """The provider took an entry down (下架); its history stays and its data items are freed."""
    reason: str


@_catalog_event("ChangeObligationRaised", senders=(Role.PROVIDER, Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ChangeObligationRaised:
    """A law was revised or duties changed: the provider must update the entry and submit it
    for review within the policy's limit (Hebei; GD-2018 Art. 9; Guangxi Art. 8)."""
    obligation_id: str
    trigger: ChangeTrigger
    reference: str
    received_on: date


@_catalog_event("RevisionSubmitted", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RevisionSubmitted:
    """The provider submitted a revision to the data authority for review."""
    revision_id: str
    attributes: EntryAttributes
    obligation_id: str | None = None
    note: str = ""


@_catalog_event("RevisionApproved", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RevisionApproved:
    """The data authority approved a revision; it becomes the entry's next version."""
    revision_id: str
    comment: str = ""


@_catalog_event("RevisionRejected", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class RevisionRejected:
    """The data authority rejected a revision; the current version stays."""
    revision_id: str
    reasons: str


@_catalog_event("ExtensionRequested", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ExtensionRequested:
    """The provider asked for more time on a change obligation."""
    obligation_id: str
    reason: str


@_catalog_event("ExtensionGranted", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ExtensionGranted:
    """The data authority consented to extend a change obligation's limit."""
    obligation_id: str
    comment: str = ""


@_catalog_event("ExtensionRefused", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class ExtensionRefused:
    """The data authority refused to extend a change obligation's limit."""
    obligation_id: str
    reasons: str


@_catalog_event("AggregationRequired", senders=(Role.DATA_AUTHORITY,))
@dataclass(frozen=True, kw_only=True, slots=True)
class AggregationRequired:
    """The data authority required the entry's data to be aggregated to the platform (因需归集、
    应归尽归: Ningbo Art. 13; GD-2018 Art. 15; Hebei): the provider must do it within the
    profile's limit."""
    reason: str


@_catalog_event("DataAggregated", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class DataAggregated:
    """The provider aggregated the entry's data to the platform (归集); from now on it keeps it
    current by the entry's update cycle."""
    platform: str
    records: int = 0


@_catalog_event("DataRefreshed", senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class DataRefreshed:
    """The provider updated the entry's aggregated data, as its update cycle requires (Ningbo
    Art. 26: 按照公共数据目录中的更新周期要求…及时进行动态更新)."""
    records: int = 0


@_catalog_event("OpenDataRiskAssessed", senders=(Role.PROVIDER, Role.DATA_AUTHORITY))
@dataclass(frozen=True, kw_only=True, slots=True)
class OpenDataRiskAssessed:
    """The security risk assessment of an entry's data before it is opened to the public was
    recorded (Ningbo Art. 32: 对拟开放的公共数据进行安全风险评估)."""
    reference: str
    conclusion: str
