"""What a department's webhooks announce, found in the projections (read-only): the verdicts
on what it submitted, and the warnings and breaches of the deadlines it must meet.

The scan walks the signed trail (trail_entries) by position. A position is given once, in
order, and a record is in trail_entries only once it is projected (projections/trail.py holds a
checkpoint back until then), so "every fact after position P" is complete and stays so: the
subscription's cursor is the last position scanned. What is announced is therefore only what
the notary signed: a receiver may ask GET /v1/trail/proofs/{id} for any of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from events.rejection import EVENT_TYPE as REJECTED_TYPE
from infra import output
from projections.queries import utc
from projections.tables import deadlines, event_log, rejections, trail_entries
from web.submissions import accepted_verdict, rejected_verdict

# What a subscription may ask for, as POST /v1/subscriptions names them, and the delivery kind
# (api_deliveries.kind) each fact is recorded under.
KINDS = ("verdicts", "deadline-warnings", "deadline-breaches")
DEADLINE_EVENTS = {"deadline-warnings": ("DeadlineWarningIssued", "warning"),
                   "deadline-breaches": ("DeadlineBreached", "breach")}


@dataclass(frozen=True)
class Fact:
    position: int  # in the trail
    id: str  # the record's event id: the CloudEvent id a receiver dedupes on
    type: str  # the CloudEvent type
    kind: str  # verdict | warning | breach
    subject: str  # the aggregate (entry, request, deadline) it concerns
    time: datetime
    data: dict[str, Any]

    def cloudevent(self, source: str) -> dict[str, Any]:
        """The CloudEvent in structured form (CloudEvents 1.0 JSON format)."""
        return {"specversion": "1.0", "id": self.id, "source": source, "type": self.type,
                "subject": self.subject, "time": output.jsonable(utc(self.time)),
                "datacontenttype": "application/json", "data": output.jsonable(self.data)}


def end(conn: Connection) -> int:
    """The trail's last position (-1: empty): where a new subscription starts."""
    return conn.scalar(select(func.coalesce(func.max(trail_entries.c.position), -1)))


def scan(conn: Connection, department: str, kinds: list[str], after: int,
         window: int = 5000) -> tuple[list[Fact], int]:
    """The facts for `department` of `kinds` at trail positions after `after`, at most `window`
    positions on (so one busy subscription does not hold the notifier); with the position the
    next scan resumes after."""
    top = min(end(conn), after + window)
    if top <= after:
        return [], after
    within = (trail_entries.c.position > after, trail_entries.c.position <= top)
    found: list[Fact] = []
    if "verdicts" in kinds:
        accepted = conn.execute(
            select(trail_entries.c.position, event_log)
            .join(event_log, event_log.c.event_id == trail_entries.c.record_id)
            .where(*within, event_log.c.actor_department == department,
                   event_log.c.event_type != REJECTED_TYPE))
        found += [Fact(r.position, r.event_id, "govshare.verdict.accepted", "verdict", r.aggregate_id,
                       r.recorded_at or r.occurred_at, accepted_verdict(r)) for r in accepted]
        refused = conn.execute(
            select(trail_entries.c.position, rejections)
            .join(rejections, rejections.c.event_id == trail_entries.c.record_id)
            .where(*within, rejections.c.attempted_by_department == department))
        found += [Fact(r.position, r.event_id, "govshare.verdict.rejected", "verdict", r.aggregate_id,
                       r.recorded_at, rejected_verdict(r)) for r in refused]
    wanted = {DEADLINE_EVENTS[k][0]: DEADLINE_EVENTS[k][1] for k in kinds if k in DEADLINE_EVENTS}
    if wanted:
        rows = conn.execute(
            select(trail_entries.c.position, event_log.c.event_id, event_log.c.event_type,
                   event_log.c.occurred_at, deadlines)
            .join(event_log, event_log.c.event_id == trail_entries.c.record_id)
            .join(deadlines, deadlines.c.deadline_id == event_log.c.aggregate_id)
            .where(*within, event_log.c.event_type.in_(sorted(wanted)), deadlines.c.party == department))
        for r in rows:
            # The deadline as GET /v1/deadlines shows it (as it stands when scanned), and the event.
            row = {k: v for k, v in r._mapping.items() if k not in ("position", "event_id", "event_type",
                                                                    "occurred_at")}
            found.append(Fact(r.position, r.event_id, f"govshare.deadline.{r.event_type}",
                              wanted[r.event_type], r.deadline_id, r.occurred_at,
                              {"event_id": r.event_id, "type": r.event_type, "deadline": row}))
    return sorted(found, key=lambda f: f.position), top
