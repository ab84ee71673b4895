"""Read-only queries over the projections, for the CLI and supervisors."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, false, func, inspect, or_, select

from events.topics import AGGREGATE_TYPES
from projections import paging
from projections.tables import (
    accesses,
    catalog_entries,
    catalog_entry_versions,
    catalog_obligations,
    catalog_revisions,
    data_versions,
    dead_letters,
    deadlines,
    event_log,
    grants,
    incidents,
    entrustments,
    data_conflicts,
    system_projects,
    open_data_applications,
    uncatalogued_requests,
    objections,
    problems,
    rejections,
    share_requests,
    supervision_actions,
    trail_checkpoints,
    trail_entries,
    usage_violations,
)


def _rows(engine: Engine, query) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


# Each list's order: the sort its rows come in, and the key a page resumes after (the last
# column is unique, so rows that tie on the first keep one order from page to page).
ORDER = {
    "catalog": (catalog_entries.c.entry_id,),
    "rejections": (rejections.c.recorded_at, rejections.c.event_id),
    "dead-letters": (dead_letters.c.recorded_at, dead_letters.c.id),
    "deadlines": (deadlines.c.due_at, deadlines.c.deadline_id),
    "supervision": (supervision_actions.c.recorded_at, supervision_actions.c.event_id),
    "objections": (objections.c.reported_at, objections.c.objection_id),
    "requests": (share_requests.c.submitted_at, share_requests.c.request_id),
    "grants": (grants.c.opened_at, grants.c.grant_id),
    "problems": (problems.c.listed_at, problems.c.request_id),
    "accesses": (accesses.c.occurred_at, accesses.c.access_id),
    "incidents": (incidents.c.reported_at, incidents.c.incident_id),
    "entrustments": (entrustments.c.approved_at, entrustments.c.entrustment_id),
    "uncatalogued": (uncatalogued_requests.c.requested_at, uncatalogued_requests.c.request_id),
    "conflicts": (data_conflicts.c.reported_at, data_conflicts.c.conflict_id),
    "projects": (system_projects.c.submitted_at, system_projects.c.project_id),
    "open-data": (open_data_applications.c.submitted_at, open_data_applications.c.application_id),
}


def next_cursor(view: str, rows: list[dict[str, Any]], limit: int | None) -> str | None:
    """Where the page after `rows` starts; None when `rows` was the last page."""
    return paging.cursor(ORDER[view], rows[-1]) if limit and len(rows) == limit else None


def _page(query, view: str, after: str | None, limit: int | None):
    return paging.after(query.order_by(*ORDER[view]), ORDER[view], after).limit(limit)


def _party(query, parties, *columns):
    """Only rows one of `parties` (departments) is a party to, through any of `columns`;
    None: every row (the command line, an auditor)."""
    return query if parties is None else query.where(_among(parties, *columns))


def _among(parties, *columns):
    wanted = sorted(parties)
    return or_(*(c.in_(wanted) for c in columns)) if wanted else false()


def _provided_by(parties, entry_column):
    """`entry_column` names an entry one of `parties` provides."""
    return entry_column.in_(select(catalog_entries.c.entry_id).where(
        catalog_entries.c.provider.in_(sorted(parties or ()))))


def catalog(engine: Engine, *, provider: str | None = None, status: str | None = None,
            share_type: str | None = None, open_type: str | None = None, policy: str | None = None,
            search: str | None = None, limit: int | None = None, after: str | None = None,
            providers=None) -> list[dict[str, Any]]:
    """Entries by id; `search`: a part of the title, the entry id or the provider; `providers`:
    only the entries of these departments (None: every entry)."""
    q = _party(_page(select(catalog_entries), "catalog", after, None), providers, catalog_entries.c.provider)
    for column, value in ((catalog_entries.c.provider, provider), (catalog_entries.c.status, status),
                          (catalog_entries.c.share_type, share_type), (catalog_entries.c.open_type, open_type),
                          (catalog_entries.c.policy_id, policy)):
        if value:
            q = q.where(column == value)
    if search:
        q = q.where(or_(*(column.contains(search, autoescape=True) for column in (
            catalog_entries.c.title, catalog_entries.c.entry_id, catalog_entries.c.provider))))
    return [_decoded(r) for r in _rows(engine, q.limit(limit))]


def entry(engine: Engine, entry_id: str, *, parties=None) -> dict[str, Any] | None:
    """One entry with its versions, revisions, obligations, data versions and the accesses to
    it; for `parties` that do not provide it, only their own accesses (None: all)."""
    found = _rows(engine, select(catalog_entries).where(catalog_entries.c.entry_id == entry_id))
    if not found:
        return None
    result = _decoded(found[0])
    result["versions"] = [_decoded(r) for r in _rows(engine, select(catalog_entry_versions).where(
        catalog_entry_versions.c.entry_id == entry_id).order_by(catalog_entry_versions.c.version))]
    result["revisions"] = [_decoded(r) for r in _rows(engine, select(catalog_revisions).where(
        catalog_revisions.c.entry_id == entry_id).order_by(catalog_revisions.c.submitted_at))]
    result["obligations"] = _rows(engine, select(catalog_obligations).where(
        catalog_obligations.c.entry_id == entry_id).order_by(catalog_obligations.c.raised_at))
    result["data_versions"] = _rows(engine, select(data_versions).where(
        data_versions.c.entry_id == entry_id).order_by(data_versions.c.recorded_at))
    result["accesses"] = versions_seen(engine, entry_id, result["data_versions"])
    if parties is not None and result["provider"] not in parties:
        # Another department's accesses to data it does not provide are not the caller's to see.
        result["accesses"] = [a for a in result["accesses"] if a["department"] in parties]
    return result


def rejected(engine: Engine, *, aggregate_id: str | None = None, event_id: str | None = None,
             rule: str | None = None, department: str | None = None, person: str | None = None,
             claimed: str | None = None, limit: int | None = None, after: str | None = None,
             parties=None, newest: int | None = None) -> list[dict[str, Any]]:
    """Refusals, oldest first (`newest`: only the newest that many, newest first); `department`
    and `person`: of what they tried; `claimed`: of what another department's key signed in
    this one's name. A caller's `parties` see the refusals listed under them (the signer's,
    projections/sealed.py): a department never sees a forgery in its name as its own."""
    if newest:
        q = select(rejections).order_by(*(c.desc() for c in ORDER["rejections"])).limit(newest)
    else:
        q = _page(select(rejections), "rejections", after, limit)
    q = _party(q, parties, rejections.c.attempted_by_department)
    for column, value in ((rejections.c.aggregate_id, aggregate_id),
                          (rejections.c.rejected_event_id, event_id), (rejections.c.rule, rule),
                          (rejections.c.attempted_by_department, department),
                          (rejections.c.attempted_by_person, person),
                          (rejections.c.claimed_department, claimed)):
        if value:
            q = q.where(column == value)
    return _rows(engine, q)


def dead(engine: Engine, *, limit: int | None = None, after: str | None = None) -> list[dict[str, Any]]:
    return _rows(engine, _page(select(dead_letters.c.id, dead_letters.c.source, dead_letters.c.reason,
                                      dead_letters.c.event_id, dead_letters.c.recorded_at),
                               "dead-letters", after, limit))


def counts(engine: Engine, *, parties=None) -> dict[str, int]:
    """What became of the events integrators published: accepted, rejected, dead-lettered;
    for `parties`, what those departments published and tried (dead letters name nobody, so
    they count only for every department: None)."""
    # Not the first directory, which govshare registered itself (actor SYSTEM).
    accepted = _party(select(func.count()).select_from(event_log).where(
        event_log.c.aggregate_type.in_(AGGREGATE_TYPES), event_log.c.actor_role != "SYSTEM"),
        parties, event_log.c.actor_department)
    rejected = _party(select(func.count()).select_from(rejections), parties,
                      rejections.c.attempted_by_department)
    with engine.connect() as conn:
        return {"accepted": conn.execute(accepted).scalar_one(),
                "rejected": conn.execute(rejected).scalar_one(),
                "dead_lettered": (conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
                                  if parties is None else 0)}


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("attributes"), str):
        row["attributes"] = json.loads(row["attributes"])
    return row


def deadline_list(engine: Engine, *, overdue: bool = False, due_soon: bool = False,
                  party: str | None = None, status: str | None = None, subject: str | None = None,
                  limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Deadlines by due instant; overdue ones are those that fell due with the duty undone,
    due soon ones those still open that the deadline engine warned of (at the warning time
    their policy sets)."""
    q = _party(_page(select(deadlines), "deadlines", after, limit), parties, deadlines.c.party)
    if overdue:
        q = q.where(deadlines.c.status == "breached")
    if due_soon:
        q = q.where(deadlines.c.status == "open", deadlines.c.warned_at.is_not(None))
    for column, value in ((deadlines.c.party, party), (deadlines.c.status, status),
                          (deadlines.c.subject_id, subject)):
        if value:
            q = q.where(column == value)
    return _rows(engine, q)


def supervision(engine: Engine, *, party: str | None = None, limit: int | None = None,
                after: str | None = None, parties=None) -> list[dict[str, Any]]:
    q = _party(_page(select(supervision_actions), "supervision", after, limit), parties,
               supervision_actions.c.party)
    if party:
        q = q.where(supervision_actions.c.party == party)
    return _rows(engine, q)


def objection_list(engine: Engine, *, status: str | None = None, overdue: bool = False,
                   provider: str | None = None, outcome: str | None = None,
                   limit: int | None = None, after: str | None = None,
                   parties=None) -> list[dict[str, Any]]:
    """Objections, oldest first. Overdue: still open with a processing limit breached."""
    # The provider comes from the catalog at read time (the entry's events and the objection's
    # reach the projector in no fixed order).
    q = _party(_page(select(objections, catalog_entries.c.provider)
                     .join(catalog_entries, catalog_entries.c.entry_id == objections.c.entry_id,
                           isouter=True), "objections", after, limit),
               parties, objections.c.reporter, catalog_entries.c.provider)
    for column, value in ((objections.c.status, status), (catalog_entries.c.provider, provider),
                          (objections.c.outcome, outcome)):
        if value:
            q = q.where(column == value)
    if overdue:
        breached = select(deadlines.c.subject_id).where(deadlines.c.status == "breached")
        q = q.where(objections.c.status == "open", objections.c.objection_id.in_(breached))
    rows = _rows(engine, q)
    lapsed = _lapsed([r["objection_id"] for r in rows if r["status"] == "open"], engine)
    for r in rows:
        r["overdue"] = r["objection_id"] in lapsed
    return rows


def _lapsed(subject_ids: list[str], engine: Engine) -> set[str]:
    """Which of these subjects (still waiting on someone) have a limit that fell due undone:
    the 逾期 mark beside their state."""
    if not subject_ids:
        return set()
    return set(_scalars(engine, select(deadlines.c.subject_id).where(
        deadlines.c.status == "breached", deadlines.c.subject_id.in_(subject_ids))))


def _scalars(engine: Engine, query) -> list:
    with engine.connect() as conn:
        return list(conn.scalars(query))


def objection_stats(engine: Engine, *, parties=None) -> dict[str, Any]:
    """Counts by status and outcome, and the mean time from report to resolution."""
    rows = objection_list(engine, parties=parties)
    hours = [(r["resolved_at"] - r["reported_at"]).total_seconds() / 3600
             for r in rows if r["resolved_at"] is not None]
    by = lambda key: {v: sum(1 for r in rows if r[key] == v) for v in sorted({r[key] for r in rows if r[key]})}  # noqa: E731
    return {"total": len(rows), "by_status": by("status"), "by_outcome": by("outcome"),
            "mean_hours_to_resolve": round(sum(hours) / len(hours), 2) if hours else None}


def _filtered(engine: Engine, table, view: str, limit: int | None = None, after: str | None = None,
              parties=None, party_columns=(), where=(), **filters) -> list[dict[str, Any]]:
    q = _page(select(table), view, after, limit).where(*where)
    if parties is not None:
        q = q.where(or_(_among(parties, *party_columns),
                        _provided_by(parties, table.c.entry_id)))
    for name, value in filters.items():
        if value:
            q = q.where(table.c[name] == value)
    return _rows(engine, q)


def request_list(engine: Engine, *, status: str | None = None, requester: str | None = None,
                 limit: int | None = None, after: str | None = None,
                 parties=None) -> list[dict[str, Any]]:
    """Requests with who must act next and, where a limit runs, by when."""
    rows = _filtered(engine, share_requests, "requests", limit, after, parties,
                     (share_requests.c.requester,), status=status, requester=requester)
    # Only the rows shown are joined, so a page costs the same at any size.
    providers = {r["entry_id"]: r["provider"] for r in _rows(engine, select(
        catalog_entries.c.entry_id, catalog_entries.c.provider).where(
        catalog_entries.c.entry_id.in_({r["entry_id"] for r in rows})))}
    limits = {r["subject_id"]: r for r in _rows(engine, select(
        deadlines.c.subject_id, deadlines.c.party, deadlines.c.due_at, deadlines.c.provisional)
        .where(deadlines.c.status == "open", deadlines.c.subject_id.in_([r["request_id"] for r in rows]))
        .order_by(deadlines.c.due_at.desc()))}
    lapsed = _lapsed([r["request_id"] for r in rows if r["status"] in ("pending", "disputed")], engine)
    for r in rows:
        due = limits.get(r["request_id"])
        r["overdue"] = r["request_id"] in lapsed
        r["provider"] = providers.get(r["entry_id"])
        if r["next_actor"] == "provider":
            r["next_actor"] = r["provider"]
        elif r["status"] == "pending" and r["next_actor"] is None:
            r["next_actor"] = due["party"] if due else f"data authority ({r['policy_id']})"
        r["due_at"] = due["due_at"] if due else None
        r["due_provisional"] = bool(due and due["provisional"])
    return rows


def request_counts(engine: Engine, *, parties=None) -> dict[str, int]:
    """How many requests are in each state (of those `parties` see, as request_list)."""
    q = select(share_requests.c.status, func.count()).group_by(share_requests.c.status) \
        .order_by(share_requests.c.status)
    if parties is not None:
        q = q.where(or_(_among(parties, share_requests.c.requester),
                        _provided_by(parties, share_requests.c.entry_id)))
    with engine.connect() as conn:
        return dict(conn.execute(q).all())


def trail_status(engine: Engine) -> dict[str, Any]:
    """How far the signed trail covers what was recorded: the newest checkpoint, and the
    recorded events no checkpoint covers yet (the notary signs them within seconds)."""
    with engine.connect() as conn:
        newest = conn.execute(select(trail_checkpoints.c.tree_size, trail_checkpoints.c.signed_at,
                                     trail_checkpoints.c.key_id, trail_checkpoints.c.origin)
                              .order_by(trail_checkpoints.c.tree_size.desc()).limit(1)).first()
        unsealed = conn.scalar(select(func.count()).select_from(event_log.outerjoin(
            trail_entries, trail_entries.c.record_id == event_log.c.event_id))
            .where(trail_entries.c.position.is_(None)))
    return {"checkpoint": dict(newest._mapping) if newest else None, "not_checkpointed": unsealed}


def grant_list(engine: Engine, *, status: str | None = None, grantee: str | None = None,
               limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    return _filtered(engine, grants, "grants", limit, after, parties, (grants.c.grantee,),
                     status=status, grantee=grantee)


def problem_list(engine: Engine, *, undecided: bool = False, limit: int | None = None, after: str | None = None,
                 parties=None) -> list[dict[str, Any]]:
    """Problems escalated to the leadership group, with its decision where it took one."""
    return _filtered(engine, problems, "problems", limit, after, parties, (problems.c.requester,),
                     where=(problems.c.outcome.is_(None),) if undecided else ())


def incident_list(engine: Engine, *, department: str | None = None, uninformed: bool = False,
                  limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Security incidents as reported, newest last; `uninformed`: those whose affected users
    were not told."""
    q = _party(_page(select(incidents), "incidents", after, limit), parties, incidents.c.department)
    if department:
        q = q.where(incidents.c.department == department)
    if uninformed:
        q = q.where(incidents.c.users_informed.is_(False))
    return _rows(engine, q)


def entrustment_list(engine: Engine, *, department: str | None = None, limit: int | None = None,
                     after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Approved entrustments of contractors, oldest first; `department`: the entrusting one's."""
    q = _party(_page(select(entrustments), "entrustments", after, limit), parties, entrustments.c.department)
    if department:
        q = q.where(entrustments.c.department == department)
    return _rows(engine, q)


def uncatalogued_list(engine: Engine, *, status: str | None = None, holder: str | None = None,
                     limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Requests for data outside the catalog, oldest first, each party seeing its own."""
    q = _party(_page(select(uncatalogued_requests), "uncatalogued", after, limit), parties,
               uncatalogued_requests.c.requester, uncatalogued_requests.c.holder)
    for column, value in ((uncatalogued_requests.c.status, status), (uncatalogued_requests.c.holder, holder)):
        if value:
            q = q.where(column == value)
    return _rows(engine, q)


def conflict_list(engine: Engine, *, status: str | None = None, limit: int | None = None,
                  after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Conflicting values, oldest first, with the providers of both entries (read from the
    catalog, as the objections list reads its provider); `parties`: those whose entries or
    report concern one of them."""
    first, second = catalog_entries.alias("first"), catalog_entries.alias("second")
    q = (select(data_conflicts, first.c.provider.label("provider"), second.c.provider.label("other_provider"))
         .join(first, first.c.entry_id == data_conflicts.c.entry_id, isouter=True)
         .join(second, second.c.entry_id == data_conflicts.c.other_entry_id, isouter=True))
    q = _party(_page(q, "conflicts", after, limit), parties, data_conflicts.c.reported_by, first.c.provider,
               second.c.provider)
    if status:
        q = q.where(data_conflicts.c.status == status)
    return _rows(engine, q)


def project_list(engine: Engine, *, status: str | None = None, department: str | None = None,
                 limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """New information systems' projects, oldest first, with their review."""
    q = _party(_page(select(system_projects), "projects", after, limit), parties, system_projects.c.department)
    for column, value in ((system_projects.c.status, status), (system_projects.c.department, department)):
        if value:
            q = q.where(column == value)
    return _rows(engine, q)


def open_data_list(engine: Engine, *, status: str | None = None, limit: int | None = None,
                   after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Open-data applications, oldest first, each with its entry's provider; `parties`: those
    submitted by, or for the data of, one of them."""
    q = (select(open_data_applications, catalog_entries.c.provider)
         .join(catalog_entries, catalog_entries.c.entry_id == open_data_applications.c.entry_id, isouter=True))
    q = _party(_page(q, "open-data", after, limit), parties, open_data_applications.c.submitted_by,
               catalog_entries.c.provider)
    if status:
        q = q.where(open_data_applications.c.status == status)
    return _rows(engine, q)


def access_list(engine: Engine, *, violations_only: bool = False,
                limit: int | None = None, after: str | None = None, parties=None) -> list[dict[str, Any]]:
    """Recorded accesses with the violations flagged on them, if any."""
    q = _page(select(accesses, usage_violations.c.violations)
              .join(usage_violations, usage_violations.c.access_id == accesses.c.access_id,
                    isouter=not violations_only), "accesses", after, limit)
    if parties is not None:
        q = q.where(or_(_among(parties, accesses.c.department),
                        _provided_by(parties, accesses.c.entry_id)))
    return _rows(engine, q)


def versions_seen(engine: Engine, entry_id: str,
                  versions: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Each recorded access to the entry with the data version it saw: the latest correction
    made before it (None: the data as first shared). Joined here, at read time, because an
    access and a correction are different aggregates and reach the projector in no fixed order."""
    if versions is None:
        versions = _rows(engine, select(data_versions).where(
            data_versions.c.entry_id == entry_id).order_by(data_versions.c.recorded_at))
    seen = []
    for access in _rows(engine, select(accesses).where(accesses.c.entry_id == entry_id)
                        .order_by(accesses.c.occurred_at)):
        earlier = [v for v in versions if utc(v["recorded_at"]) <= utc(access["occurred_at"])]
        seen.append({"access_id": access["access_id"], "department": access["department"],
                     "grant_id": access["grant_id"], "occurred_at": access["occurred_at"],
                     "data_version": earlier[-1]["data_version"] if earlier else None,
                     "objection_id": earlier[-1]["objection_id"] if earlier else None})
    return seen


def utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive UTC datetimes, PostgreSQL aware ones: both as aware instants."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def tallies(engine: Engine) -> dict[str, Any]:
    """What /metrics counts: accepted events by type, refusals by type and rule, dead letters,
    deadlines pending (open) and overdue (fell due undone), and the newest signature's time."""
    with engine.connect() as conn:
        accepted = conn.execute(select(event_log.c.event_type, func.count()).where(
            event_log.c.aggregate_type.in_(AGGREGATE_TYPES)).group_by(event_log.c.event_type)).all()
        refused = conn.execute(select(rejections.c.rejected_event_type, rejections.c.rule, func.count())
                               .group_by(rejections.c.rejected_event_type, rejections.c.rule)).all()
        by_status = dict(conn.execute(select(deadlines.c.status, func.count())
                                      .group_by(deadlines.c.status)).all())
        return {"accepted": {t: n for t, n in accepted},
                "rejected": {(t, rule): n for t, rule, n in refused},
                "dead_lettered": conn.execute(select(func.count()).select_from(dead_letters)).scalar_one(),
                "deadlines": {"pending": by_status.get("open", 0), "overdue": by_status.get("breached", 0)},
                "signed_at": utc(conn.execute(select(func.max(trail_checkpoints.c.signed_at))).scalar())}


def directory(engine: Engine) -> list[dict[str, Any]]:
    """The department directory as its events made it (events/directory.py), read from the
    event log in order: each department's name, jurisdiction and roles now, and every key it
    was given, with when it was registered and revoked."""
    from events.codec import decode_payload, decode_record
    found: dict[str, dict[str, Any]] = {}
    q = (select(event_log.c.aggregate_id, event_log.c.record, event_log.c.recorded_at)
         .where(event_log.c.aggregate_type == "department").order_by(event_log.c.aggregate_id, event_log.c.sequence))
    with engine.connect() as conn:
        for department, record, recorded_at in conn.execute(q):
            envelope, payload_bytes = decode_record(record)
            p = decode_payload(payload_bytes)
            row = found.setdefault(department, {"department": department, "keys": []})
            if envelope.event_type in ("DepartmentRegistered", "DepartmentChanged"):
                row.update(name=p.name, policy_id=p.policy_id, roles=list(p.roles))
            elif envelope.event_type == "DepartmentKeyRegistered":
                row["keys"].append({"key_id": p.key_id, "registered_at": recorded_at, "revoked_at": None})
            else:
                for key in row["keys"]:
                    if key["key_id"] == p.key_id:
                        key["revoked_at"] = recorded_at
    return list(found.values())


def dismissals(engine: Engine) -> list[dict[str, Any]]:
    """The messages the platform administrator dismissed (events/operations.py), read from the
    event log: where each lies, the hash of its bytes, why, by whom and when."""
    from events.codec import decode_payload, decode_record
    q = (select(event_log.c.event_id, event_log.c.record, event_log.c.recorded_at, event_log.c.actor_person)
         .where(event_log.c.aggregate_type == "dismissal").order_by(event_log.c.recorded_at))
    found = []
    with engine.connect() as conn:
        if not inspect(conn).has_table(event_log.name):
            return []
        for event_id, record, recorded_at, person in conn.execute(q):
            p = decode_payload(decode_record(record)[1])
            found.append({"topic": p.topic, "partition": p.partition, "offset": p.offset, "sha256": p.sha256,
                          "stage": p.stage, "reason": p.reason, "event_id": event_id, "by": person,
                          "dismissed_at": recorded_at})
    return found
