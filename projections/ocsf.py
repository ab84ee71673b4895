"""The audit trail as OCSF events, for a SIEM: one API Activity event per trail record.

OCSF 1.8.0, class API Activity (class_uid 6003, category Application Activity, 6):
https://schema.ocsf.io/1.8.0/classes/api_activity. Accepted events, rejections and dead
letters are all trail records, so all are exported; the record's own id is the event's uid,
so a SIEM deduplicates an export taken twice. docs/audit-trail.md ("The security export: OCSF") has the mapping.

Events are read with `steps` (who, what, when and why from the sealed record) a page at a
time; dead letters, which `steps` does not cover, from their sealed records the same way. The
two are merged in trail order, so a trail of any length streams in bounded memory.
"""
from __future__ import annotations

import heapq
import json
from datetime import datetime, timedelta, timezone
from importlib.metadata import version
from typing import Any, Callable, Iterator

from sqlalchemy import Engine, or_, select

from events import deadletter
from events.codec import decode_dead_letter
from events.envelope import Role
from events.rejection import EVENT_TYPE as REJECTED
from audit.trail import LeafKind
from projections import sealed
from projections.queries import utc
from projections.tables import dead_letters, event_log, trail_entries
from projections.trail import steps

SCHEMA_VERSION = "1.8.0"
CLASS = {"class_uid": 6003, "class_name": "API Activity",
         "category_uid": 6, "category_name": "Application Activity"}
PRODUCT = {"name": "govshare", "vendor_name": "govshare", "version": version("govshare")}

# activity_id: an aggregate's first event creates it, every later one updates it (govshare
# never deletes: a withdrawal or revocation is a new state). What a refused or undecodable
# message would have done is not in its sealed record (a rejection keeps no sequence): Unknown.
UNKNOWN, CREATE, UPDATE = 0, 1, 3
ACTIVITY_NAMES = {UNKNOWN: "Unknown", CREATE: "Create", UPDATE: "Update"}
SUCCESS, FAILURE = 1, 2
STATUS_NAMES = {SUCCESS: "Success", FAILURE: "Failure"}
# A refusal is the rules working (Low); bytes that are no event at all deserve a look (Medium).
INFORMATIONAL, LOW, MEDIUM = 1, 2, 3
SEVERITY_NAMES = {INFORMATIONAL: "Informational", LOW: "Low", MEDIUM: "Medium"}
# What OCSF requires but a dead letter cannot say: its bytes name no actor nor sender we trust.
NOT_KNOWN = "unknown"

PAGE = 500


def events(engine: Engine, *, aggregate: str | None = None, department: str | None = None,
           actor: str | None = None, since: datetime | None = None, until: datetime | None = None,
           page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every trail record the filters select, as an OCSF event, in trail order (records not
    yet in a signed checkpoint last, by recording time)."""
    def event_page(after, limit):
        found = steps(engine, aggregate=aggregate, department=department, actor=actor, since=since,
                      until=until, with_state=False, after=after, limit=limit)
        beside = _beside(engine, [s["event_id"] for s in found])
        return [_from_step(s, beside[s["event_id"]]) for s in found]

    def letter_page(after, limit):
        return [_from_dead_letter(r) for r in _dead_letters(engine, since, until, after, limit)]

    streams = [_in_pages(event_page, page)]
    # A dead letter has no aggregate, actor or department: a filter on those excludes it.
    if not (aggregate or department or actor):
        streams.append(_in_pages(letter_page, page))
    return heapq.merge(*streams, key=_trail_order)


def _trail_order(e: dict[str, Any]) -> tuple:
    position = e["metadata"].get("sequence")
    return (position is None, position or 0, e["metadata"].get("logged_time", 0))


def _in_pages(fetch: Callable[[int | None, int | None], list[dict]], size: int) -> Iterator[dict]:
    """Page by trail position. Records not yet signed have none to page by: they are read in
    one go once reached, and are at most what the notary has not signed yet (a checkpoint
    interval's worth, unless it is down)."""
    after = None
    while True:
        batch = fetch(after, size)
        signed = [e for e in batch if e["metadata"].get("sequence") is not None]
        yield from signed
        if signed:
            after = signed[-1]["metadata"]["sequence"]
        if len(signed) < len(batch):
            # Read again rather than keep this batch's tail: a record signed meanwhile now has
            # a position past `after`, and comes in order.
            yield from fetch(after, None)
            return
        if len(batch) < size:
            return


def _beside(engine: Engine, ids: list[str]) -> dict[str, Any]:
    """What `steps` leaves out and OCSF has a place for: where the record is on the log, who
    sent it (the source column, which `verify` checks against the sealed record), and the
    checkpoint that signed it."""
    q = (select(event_log.c.event_id, event_log.c.topic, event_log.c.source, trail_entries.c.checkpoint_size)
         .select_from(event_log.outerjoin(trail_entries, trail_entries.c.record_id == event_log.c.event_id))
         .where(event_log.c.event_id.in_(ids)))
    with engine.connect() as conn:
        return {r.event_id: r for r in conn.execute(q)}


def _dead_letters(engine: Engine, since, until, after: int | None, limit: int | None) -> list:
    """Dead letters in trail order, paged like `steps`."""
    position = trail_entries.c.position
    q = (select(dead_letters.c.record, dead_letters.c.recorded_at, position, trail_entries.c.leaf_hash,
                trail_entries.c.checkpoint_size)
         .select_from(dead_letters.outerjoin(trail_entries, trail_entries.c.record_id == dead_letters.c.id))
         .order_by(position.is_(None), position, dead_letters.c.recorded_at))
    if since:
        q = q.where(dead_letters.c.recorded_at >= since)
    if until:
        q = q.where(dead_letters.c.recorded_at <= until)
    if after is not None:
        q = q.where(or_(position > after, position.is_(None)))
    if limit:
        q = q.limit(limit)
    with engine.connect() as conn:
        return conn.execute(q).all()


def _from_step(s: dict[str, Any], beside) -> dict[str, Any]:
    """An accepted event or a rejection; a rejection describes the refused call (its type and
    aggregate) and who made it, as the sealed rejection names them; the validator that refused
    it is kept unmapped. A rejection recorded before it named who tried has the validator as
    its actor, as it did then."""
    what, why, who = s["what"], s["why"], s["who"]
    refused_by = None
    refused = what["payload"] if what["event_type"] == REJECTED else None
    if refused:
        activity, status, severity = UNKNOWN, FAILURE, LOW
        operation = refused["rejected_event_type"]
        resource = {"uid": refused["rejected_aggregate_id"], "type": refused["rejected_aggregate_type"]}
        outcome = dict(status_code=why["rule"], status_detail=f"{why['rule']} ({why['article']})",
                       message=why["message"])
        if why.get("attempted_by"):
            refused_by, who = f"{who['department']}/{who['person']}", why["attempted_by"]
    else:
        activity, status, severity = CREATE if what["sequence"] == 1 else UPDATE, SUCCESS, INFORMATIONAL
        operation = what["event_type"]
        resource = {"uid": what["aggregate_id"], "type": what["aggregate_type"]}
        outcome = dict(message=f"{operation} {resource['type']}/{resource['uid']} #{what['sequence']}")
    return _event(
        activity, status, severity, **outcome,
        time=_ms(s["when"]["occurred_at"]),
        metadata=dict(uid=s["event_id"], original_event_uid=s["event_id"],
                      correlation_uid=why["correlation_id"], sequence=s["position"],
                      original_time=s["when"]["occurred_at"], logged_time=_ms(s["when"]["recorded_at"])),
        actor={"user": _user(who["department"], who["person"], who["role"])},
        api={"operation": operation, "service": {"name": beside.topic}},
        src_endpoint={"name": beside.source},
        resources=[resource],
        unmapped=dict(trail_kind=s["kind"], leaf_hash=s["leaf_hash"], checkpoint_size=beside.checkpoint_size,
                      policy_id=s["policy_id"], aggregate_sequence=None if refused else what["sequence"],
                      causation_uid=why["causation_id"], refused_by=refused_by))


def _from_dead_letter(r) -> dict[str, Any]:
    """Bytes that could not be decoded: the headers they came with are kept, unmapped, but
    what they claim is not taken for an actor or a sender."""
    letter = sealed.dead_letter_columns(decode_dead_letter(r.record))
    # Those govshare added (reason, source, id) are mapped already.
    headers = {k: v for k, v in json.loads(letter["headers"]).items()
               if k not in (deadletter.REASON, deadletter.SOURCE, deadletter.ID)}
    logged = _ms(utc(r.recorded_at))
    return _event(
        UNKNOWN, FAILURE, MEDIUM, status_detail=letter["reason"],
        message=f"dead letter from {letter['source']}",
        time=logged,
        metadata=dict(uid=letter["id"], original_event_uid=letter["id"], sequence=r.position,
                      logged_time=logged),
        actor={"user": {"name": NOT_KNOWN, "type_id": 0}},
        api={"operation": headers.get("ce_type") or NOT_KNOWN, "service": {"name": letter["source"]}},
        src_endpoint={"name": NOT_KNOWN},
        unmapped=dict(trail_kind=LeafKind.DEAD_LETTERED.value,
                      leaf_hash=r.leaf_hash.hex() if r.leaf_hash else None,
                      checkpoint_size=r.checkpoint_size, claimed_event_uid=letter["event_id"],
                      headers=headers or None))


def _event(activity: int, status: int, severity: int, *, metadata: dict, **attributes) -> dict[str, Any]:
    return _without_nulls({
        **CLASS, "activity_id": activity, "activity_name": ACTIVITY_NAMES[activity],
        "type_uid": CLASS["class_uid"] * 100 + activity,
        "type_name": f"{CLASS['class_name']}: {ACTIVITY_NAMES[activity]}",
        "severity_id": severity, "severity": SEVERITY_NAMES[severity],
        "status_id": status, "status": STATUS_NAMES[status],
        "metadata": {"version": SCHEMA_VERSION, "product": PRODUCT, **metadata},
        **attributes,
    })


def _user(department: str, person: str, role: str) -> dict[str, Any]:
    # A person's name is unique within a department only; the role is the group they acted in.
    return {"name": person, "uid": f"{department}/{person}", "org": {"uid": department},
            "type_id": 3 if role == Role.SYSTEM else 1, "groups": [{"name": role}]}


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ms(when: datetime | str | None) -> int | None:
    """OCSF's timestamp_t: whole milliseconds since the epoch (integer arithmetic: a float
    product can land a millisecond short)."""
    if when is None:
        return None
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _without_nulls(value):
    """OCSF omits what is not known rather than sending null."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
