"""Every read view, declared once: its query, its filters, its columns, its order and who sees
which rows. The command line (`govshare query VIEW`), the HTTP API (`GET /v1/VIEW`) and the
dashboard's lists are all made from these declarations, so the CLI's table, the API's JSON and
the dashboard's page show the same rows for the same caller by construction.

A view's `scope` says how a caller narrows it (web/callers.py makes the caller):
- PARTIES: the rows a department of the caller's is a party to (a data authority: its whole
  jurisdiction; an auditor and the command line: every row);
- CATALOG: every entry, but a data authority sees its own jurisdiction's catalog;
- AUDITORS: auditors only (what names no department, such as undecodable bytes);
- EVERYONE: the same rows for every caller.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Engine

from projections import queries
from projections import scorecards as scoring


class Scope(enum.Enum):
    PARTIES = "parties"
    CATALOG = "catalog"
    AUDITORS = "auditors"
    EVERYONE = "everyone"


@dataclass(frozen=True)
class Filter:
    """One way to narrow a view: `--name` on the command line, `?name=` on the API and the
    dashboard. `arg`: the query function's parameter, where it is named otherwise."""
    name: str
    help: str
    choices: tuple[str, ...] | None = None
    flag: bool = False  # yes or no (--overdue), rather than a value
    arg: str | None = None
    default: str | None = None
    labels: str = "status"  # what its choices are, for their labels (web/i18n.py's contexts)
    department: bool = False  # its value is a department's id (the dashboard offers the names)

    @property
    def keyword(self) -> str:
        return self.arg or self.name.replace("-", "_")


@dataclass(frozen=True)
class View:
    name: str
    summary: str
    query: Callable[..., list[dict[str, Any]]]
    columns: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    scope: Scope = Scope.PARTIES
    paged: bool = True  # by a keyset cursor (queries.ORDER); otherwise one answer, `limit` at most
    # Which column leads to a subject's story (the dashboard links it).
    subject: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def read(self, engine: Engine, *, parties: frozenset[str] | None = None, auditor: bool = True,
             authority: bool = False, limit: int | None = None, after: str | None = None,
             **given: Any) -> list[dict[str, Any]]:
        """The rows a caller sees (`parties`: the departments whose rows it sees, None: every
        row; `auditor`: may it read what only auditors read; `authority`: a data authority,
        shown its own jurisdiction's catalog), filtered by `given` (by filter name)."""
        if self.scope is Scope.AUDITORS and not auditor:
            raise PermissionError(f"the {self.name} view is read with an audit token")
        kwargs = {f.keyword: given[f.name] for f in self.filters if given.get(f.name) not in (None, False, "")}
        if self.scope is Scope.PARTIES:
            kwargs["parties"] = parties
        elif self.scope is Scope.CATALOG:
            kwargs["providers"] = parties if authority else None
        if self.paged:
            kwargs["after"] = after
        return self.query(engine, limit=limit, **kwargs)

    def next_cursor(self, rows: list[dict[str, Any]], limit: int | None) -> str | None:
        return queries.next_cursor(self.name, rows, limit) if self.paged else None

    def fields(self) -> dict[str, type]:
        """What a row holds, by name, with its Python type: the table's columns and what the
        query adds (`extra`), for the API's schema (/openapi.json)."""
        found: dict[str, type] = {}
        table = self.extra.get("table") if self.extra.get("table") is not None else (
            queries.ORDER[self.name][0].table if self.paged else None)
        for column in (table.columns if table is not None else ()):
            try:
                found[column.name] = column.type.python_type
            except NotImplementedError:
                found[column.name] = object
        found.update(self.extra.get("adds", {}))
        for name in self.columns:
            found.setdefault(name, object)
        return found


def _scorecards(engine: Engine, *, limit: int | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    return scoring.scorecards(engine, limit=limit, **kwargs)


VIEWS: dict[str, View] = {v.name: v for v in (
    View("catalog", "catalog entries (govshare query catalog)", queries.catalog,
         ("entry_id", "title", "provider", "policy_id", "share_type", "status", "version"),
         (Filter("provider", "the providing department", department=True),
          Filter("status", "published or taken down", ("published", "taken_down")),
          Filter("share-type", "the share type", ("UNCONDITIONAL", "CONDITIONAL", "NON_SHAREABLE"),
                 labels="ShareType"),
          Filter("open-type", "the open type: OPEN and CONDITIONAL_OPEN make the open catalog",
                 ("OPEN", "CONDITIONAL_OPEN", "NOT_OPEN"), labels="OpenType"),
          Filter("policy", "the jurisdiction's policy profile"),
          Filter("search", "a part of the title, the entry id or the provider")),
         scope=Scope.CATALOG, subject="entry_id"),
    View("rejections", "events refused, with rule and article", queries.rejected,
         ("rejected_event_type", "aggregate_id", "attempted_by_department", "attempted_by_person", "rule",
          "article", "message", "claimed_department"),
         (Filter("entry", "refusals of events for this entry or other subject", arg="aggregate_id"),
          Filter("event-id", "the refused event's id"),
          Filter("rule", "the rule broken"),
          Filter("department", "refusals of what this department tried (signed with its key, or "
                               "unsigned in its name)", department=True),
          Filter("claimed", "refusals of what another department's key signed in this department's name",
                 department=True),
          Filter("actor", "refusals of what this person tried", arg="person")),
         subject="aggregate_id"),
    View("deadlines", "legal time limits: who must act by when", queries.deadline_list,
         ("deadline_id", "kind", "subject_id", "party", "due_at", "provisional", "status", "extensions", "article"),
         (Filter("overdue", "only those that fell due undone", flag=True),
          Filter("party", "the department that must act", department=True),
          Filter("status", "the limit's state", ("open", "met", "breached", "cancelled")),
          Filter("subject", "the entry, request or objection it runs on")),
         subject="subject_id"),
    View("supervision", "rectification orders and circulated criticism", queries.supervision,
         ("action", "party", "deadline_id", "due_at", "article", "recorded_at"),
         (Filter("party", "the department ordered or criticised", department=True),)),
    View("objections", "problem data: open, overdue, by provider, by outcome", queries.objection_list,
         ("objection_id", "entry_id", "reporter", "provider", "kind", "status", "outcome", "round",
          "reported_at", "resolved_at"),
         (Filter("status", "the objection's state", ("open", "resolved", "closed")),
          Filter("overdue", "open with a processing limit breached", flag=True),
          Filter("provider", "the providing department", department=True),
          Filter("outcome", "how it was resolved", ("CORRECTED", "CONFIRMED_CORRECT", "RESOLVED_BY_COMMUNICATION"),
                 labels="Outcome")),
         subject="objection_id", extra={"adds": {"provider": str, "overdue": bool}}),
    View("requests", "share requests: state, who acts next, by when", queries.request_list,
         ("request_id", "entry_id", "requester", "provider", "path", "status", "next_actor", "due_at",
          "due_provisional"),
         (Filter("status", "the request's state", ("pending", "granted", "rejected", "disputed", "refused",
                                                   "escalated", "revoked", "retracted")),
          Filter("requester", "the requesting department", department=True)),
         subject="request_id",
         extra={"adds": {"provider": str, "due_at": datetime, "due_provisional": bool, "overdue": bool}}),
    View("grants", "access grants: items, purpose, period, status", queries.grant_list,
         ("grant_id", "request_id", "grantee", "items", "purpose", "valid_until", "status"),
         (Filter("status", "the grant's state", ("open", "revoked", "expired", "withdrawn")),
          Filter("grantee", "the department granted", department=True)),
         subject="request_id"),
    View("problems", "the problem list escalated to the leadership group", queries.problem_list,
         ("request_id", "entry_id", "requester", "escalated_to", "reasons", "listed_at", "outcome", "decided_at"),
         (Filter("undecided", "only those the leadership group has not decided", flag=True),),
         subject="request_id"),
    View("incidents", "security incidents as their departments reported them", queries.incident_list,
         ("incident_id", "department", "description", "remedies", "users_informed", "reported_to", "reported_at"),
         (Filter("department", "the reporting department", department=True),
          Filter("uninformed", "only those whose affected users were not told", flag=True)),
         subject="incident_id"),
    View("entrustments", "contractors and partners departments were approved to entrust or cooperate with",
         queries.entrustment_list,
         ("entrustment_id", "kind", "department", "contractor", "purpose", "reference", "valid_until",
          "approved_by"),
         (Filter("department", "the entrusting department", department=True),),
         subject="entrustment_id"),
    View("uncatalogued", "requests for data outside the catalog, to the department holding it",
         queries.uncatalogued_list,
         ("request_id", "requester", "holder", "description", "purpose", "status", "reasons", "requested_at",
          "answered_at"),
         (Filter("status", "the request's state", ("pending", "provided", "refused")),
          Filter("holder", "the department asked", department=True)),
         subject="request_id"),
    View("conflicts", "conflicting values between two providers: negotiated, referred, coordinated",
         queries.conflict_list,
         ("conflict_id", "entry_id", "provider", "other_entry_id", "other_provider", "status", "outcome",
          "reported_at", "settled_at"),
         (Filter("status", "the conflict's state", ("open", "negotiated", "referred", "coordinated")),),
         subject="conflict_id", extra={"adds": {"provider": str, "other_provider": str}}),
    View("projects", "new information systems' projects, with the catalog entries of their data",
         queries.project_list,
         ("project_id", "department", "system", "entries", "status", "opinion", "submitted_at", "reviewed_at"),
         (Filter("status", "the project's state", ("submitted", "approved", "refused")),
          Filter("department", "the submitting department", department=True)),
         subject="project_id"),
    View("open-data", "applications for conditionally open data: assessed, agreed, decided",
         queries.open_data_list,
         ("application_id", "entry_id", "provider", "applicant", "applicant_kind", "purpose", "status",
          "provider_agrees", "agreement", "submitted_at", "decided_at"),
         (Filter("status", "the application's state", ("submitted", "approved", "refused")),),
         subject="application_id", extra={"adds": {"provider": str}}),
    View("accesses", "recorded uses of shared data", queries.access_list,
         ("access_id", "grant_id", "department", "items", "purpose", "recipient", "violations"),
         (Filter("violations", "only those flagged", flag=True, arg="violations_only"),),
         subject="access_id", extra={"adds": {"violations": str}}),
    View("dead-letters", "messages that could not be decoded (auditors)", queries.dead,
         ("id", "source", "reason", "recorded_at"), scope=Scope.AUDITORS),
    View("scorecards", "department scorecards by period", _scorecards,
         ("department", "period", "catalog_in_time", "catalog_due", "requests_in_time", "requests_due",
          "objections_in_time", "objections_due", "aggregation_in_time", "aggregation_due",
          "freshness_in_time", "freshness_due", "breaches", "rectifications", "criticisms",
          "usage_violations", "incidents", "incidents_uninformed", "score", "formula"),
         (Filter("period", "month, quarter or year", ("month", "quarter", "year"), default="month", labels="period"),
          Filter("department", "one department's", department=True),
          Filter("since", "the first period shown: 2026-11, 2026-Q4 or 2026")),
         paged=False, extra={"adds": {c: int for c in scoring.COUNTS} | {"score": float, "formula": str,
                                                                          "policy_id": str}}),
)}
