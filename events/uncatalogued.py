"""Requests for data outside the catalog (GD-2008 Art. 21-22: 政务信息资源共享目录以外的信息资源，
由需求信息的行政机关向提供信息的行政机关提出申请): a using department asks the department that
holds the data, which answers within the profile's limit; a refusal says why, in writing."""
from __future__ import annotations

from dataclasses import dataclass

from events.envelope import Role
from events.kinds import event_type

AGGREGATE = "uncatalogued-request"


@event_type("UncataloguedDataRequested", schema="govshare.uncatalogued.UncataloguedDataRequested",
            aggregate=AGGREGATE, senders=(Role.USER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class UncataloguedDataRequested:
    """A using department asked the department it believes holds them for data no catalog
    entry lists."""
    holder: str  # the department asked
    description: str  # the data wanted
    purpose: str
    business_process: str


@event_type("UncataloguedRequestAnswered", schema="govshare.uncatalogued.UncataloguedRequestAnswered",
            aggregate=AGGREGATE, senders=(Role.PROVIDER,))
@dataclass(frozen=True, kw_only=True, slots=True)
class UncataloguedRequestAnswered:
    """The holding department answered: it provides the data (through an entry it catalogued,
    or as the two agree, filed with the data authority), or refuses in writing with reasons."""
    agrees: bool
    reasons: str = ""
    entry_id: str | None = None  # the catalog entry it registered for the data, where it did
