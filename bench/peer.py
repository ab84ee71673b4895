"""Benchmark peer: the pipeline workload through the pyeventsourcing library (`eventsourcing`).

    python -m bench.peer [--events 200000] [--database sqlite|postgresql] [--sqlite-synchronous normal|full]

What govshare does for each event in one process, minus the broker and the audit trail, written
as an application of the library: the JSON line is parsed into govshare's event
(events.submission.parse_line), checked with the SAME rule functions the validator calls
(jurisdiction.resolve, then catalog / requests / objections decide and evolve), and, accepted,
recorded as an event of a library aggregate; grants open and accesses are checked against
them as the grant keeper does; a rejection is recorded too. A projection keeps a small read
model in SQL. The catalog phase goes first and is waited for, untimed; the traffic phase is
timed until the read model has caught up with every recorded event (as bench.pipeline times
govshare until every event is visible in its projections). The JSON lines are written before
the clock starts, as bench.pipeline builds its messages before publishing; parsing them is timed.
Where it differs from govshare by the library's idiom, not by choice: one transaction per
command and one per projected event, where govshare's processors decide and project batches.

Design, in the library's terms:
- `PeerApplication(Application)`, one command (`submit`) per line, one `save()` (one
  transaction) per command, aggregates read back through the repository (no aggregate cache:
  the library's default). Aggregates: Entry, Request, Objection hold govshare's own state object
  (EntryState, RequestState, ObjectionState); each of their events carries the accepted
  govshare event and the state it leads to (requests.evolve and objections.evolve read the
  entry, which a replay would not have). Grant, DataAccess (with its UsageViolationFlagged)
  and Rejection are aggregates too. Ids are uuid5 of "<aggregate type>:<govshare id>". The
  one-data-one-source index (item code -> entry per jurisdiction) is kept in memory by the
  application, updated after each accepted catalog save.
- Projection: the library's `eventsourcing.projection` module: `PeerProjection(Projection)`
  writes the read model through a view that is a `TrackingRecorder` subclass (tables
  entries, requests, grants, accesses with their violations, objections, rejections), each
  event's changes and its tracking record in one transaction. On PostgreSQL it runs under the
  library's `ProjectionRunner` (LISTEN/NOTIFY subscription, its own thread). The library's
  SQLite recorder has no subscriptions (SQLiteApplicationRecorder.subscribe raises
  NotImplementedError in 9.5), so on SQLite `PollingRunner` below does the runner's work by
  reading the application's notification log in a thread.
- Recorders: `eventsourcing.postgres` (POSTGRES_SCHEMA = the fresh schema) and
  `eventsourcing.sqlite` (the events and the read model in two files, since the library's
  SQLite table names are fixed). The library opens SQLite files in WAL mode with SQLite's
  default synchronous=FULL; govshare's engine runs WAL with synchronous=NORMAL, so the SQLite
  factory here is the library's with that one pragma added (--sqlite-synchronous full for
  the library's own default).
"""
from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import re
import tempfile
import threading
import time
import types
import typing
import uuid
from abc import ABC, abstractmethod
from datetime import date, datetime, time as clock_time, timedelta, timezone
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.sqlite import SQLiteConnectionPool, SQLiteFactory, SQLiteTrackingRecorder
from eventsourcing.utils import Environment, get_topic
from psycopg.sql import SQL
from sqlalchemy.engine import make_url

from bench.common import fresh_database, save
from events import catalog as catalog_events
from events import objection as objection_events
from events import sharing as sh
from events.codec import Event
from events.errors import EventError
from events.submission import parse_line
from processors.rules import catalog, jurisdiction, objections, requests
from processors.profiles import Policies, Policy, load_all
from processors.rules.verdicts import Rejected, RuleBroken, broken

try:
    from processors.grant_keeper import grant_id
except ImportError:  # the grant keeper's module is being reorganised; the id is a fixed formula
    _GRANTS = uuid.UUID("3b7e1d2c-8f4a-4c6b-a9e0-5d2f7c1b8e43")

    def grant_id(request_id: str) -> str:
        return str(uuid.uuid5(_GRANTS, f"grant:{request_id}"))

NAMESPACE = uuid.UUID("0f5d1c7e-2b8a-4e3f-9c61-7a4b2d9e8f10")


# --- plain values for stored events, and govshare's state objects back from them -------------

def plain(value: Any) -> Any:
    """A dataclass (an envelope, a payload, a state) as JSON-ready values."""
    if dataclasses.is_dataclass(value):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def built(kind: Any, value: Any) -> Any:
    """The inverse of plain() for govshare's state classes (scalars, tuples, nested records)."""
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in typing.get_args(kind) if a is not type(None)]
        return built(inner, value)
    if origin is tuple:
        return tuple(built(typing.get_args(kind)[0], v) for v in value)
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        return kind(**{k: built(hints[k], v) for k, v in value.items()})
    return value


def record(e: Event) -> dict[str, Any]:
    """What an aggregate event keeps of the accepted govshare event."""
    return {"envelope": plain(e.envelope), "payload": plain(e.payload)}


def end_of_day(day: date, tz: str) -> datetime:
    """As processors.working_days.end_of_day: midnight after `day`, local time."""
    return datetime.combine(day + timedelta(days=1), clock_time(0), tzinfo=ZoneInfo(tz))


# --- aggregates --------------------------------------------------------------------------------

class Keyed(Aggregate):
    """An aggregate found by its govshare id (`key`): the library's ids are UUIDs."""
    AGGREGATE_TYPE: ClassVar[str]

    @classmethod
    def create_id(cls, key: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, f"{cls.AGGREGATE_TYPE}:{key}")


class Governed(Keyed):
    """A govshare aggregate with rules: `state` is govshare's own state object for it."""
    STATE: ClassVar[type]

    def _set(self, state: dict) -> None:
        self._plain_state, self._state = state, None

    @property
    def state(self) -> Any:
        if self._state is None:
            self._state = built(self.STATE, self._plain_state)
        return self._state


class Entry(Governed):
    AGGREGATE_TYPE, STATE = catalog_events.AGGREGATE, catalog.EntryState

    @event("Registered")
    def __init__(self, key: str, accepted: dict, state: dict) -> None:
        self.key = key
        self._set(state)

    @event("Accepted")
    def accept(self, accepted: dict, state: dict) -> None:
        self._set(state)


class Request(Governed):
    AGGREGATE_TYPE, STATE = sh.REQUEST, requests.RequestState

    @event("Submitted")
    def __init__(self, key: str, accepted: dict, state: dict) -> None:
        self.key = key
        self.asked = accepted["payload"]  # items, purpose, period end: what a grant will allow
        self._set(state)

    @event("Accepted")
    def accept(self, accepted: dict, state: dict) -> None:
        self._set(state)


class Objection(Governed):
    AGGREGATE_TYPE, STATE = objection_events.AGGREGATE, objections.ObjectionState

    @event("Reported")
    def __init__(self, key: str, accepted: dict, state: dict) -> None:
        self.key = key
        self._set(state)

    @event("Accepted")
    def accept(self, accepted: dict, state: dict) -> None:
        self._set(state)


class Grant(Keyed):
    """What the grant keeper keeps: a request's grant, opened automatically or on approval."""
    AGGREGATE_TYPE = sh.GRANT

    @event("Opened")
    def __init__(self, key: str, request_id: str, entry_id: str, grantee: str, items: list,
                 purpose: str, valid_until: str, automatic: bool) -> None:
        self.key, self.request_id, self.entry_id = key, request_id, entry_id
        self.grantee, self.items, self.purpose = grantee, items, purpose
        self.valid_until, self.automatic, self.status = valid_until, automatic, "open"

    @event("Revoked")
    def revoke(self, key: str) -> None:  # the key again, for the read model
        self.status = "revoked"


class DataAccess(Keyed):
    """An access to shared data, and what it broke of its grant (the grant keeper's flag)."""
    AGGREGATE_TYPE = sh.ACCESS

    @event("Recorded")
    def __init__(self, key: str, accepted: dict) -> None:
        self.key, self.violations = key, []

    @event("UsageViolationFlagged")
    def flag(self, key: str, violations: list, article: str) -> None:
        self.violations = violations


class Rejection(Keyed):
    """govshare's EventRejected, keyed by the rejected event's id: the rule and its article."""
    AGGREGATE_TYPE = "rejected"

    @event("EventRejected")
    def __init__(self, key: str, event_type: str, aggregate_type: str, aggregate_id: str,
                 rule: str, article: str, message: str) -> None:
        self.key, self.rule = key, rule


# --- the application ---------------------------------------------------------------------------

class PeerApplication(Application):
    """One command per submitted line: parse, check, record (or record the rejection)."""
    name = "GovsharePeer"

    def __init__(self, env: Any = None) -> None:
        super().__init__(env)
        self.policies: Policies = load_all()
        self.sources: dict[str, dict[str, str]] = {}  # jurisdiction -> item code -> entry id
        self.outcomes = {"accepted": 0, "rejected": 0, "dead_lettered": 0, "violations": 0}
        self._judges = {catalog_events.AGGREGATE: self._entry, sh.REQUEST: self._request,
                        objection_events.AGGREGATE: self._objection, sh.ACCESS: self._access}

    def submit(self, line: str) -> str:
        received = datetime.now(timezone.utc)
        try:
            e = parse_line(line, now=received)
        except EventError:
            self.outcomes["dead_lettered"] += 1
            return "dead_lettered"
        env = e.envelope
        judge = self._judges.get(env.aggregate_type)
        if judge is None:  # govshare's validator dead-letters these too (no rules for the type)
            self.outcomes["dead_lettered"] += 1
            return "dead_lettered"
        try:
            policy, department = jurisdiction.resolve(e, self.policies)
            # As govshare's validator: a policy left out is the department's, and the rules'
            # "now" is when the event was received.
            e = dataclasses.replace(e, envelope=dataclasses.replace(env, policy_id=policy.id, recorded_at=received))
            judge(e, policy, department)
        except RuleBroken as stop:
            self._reject(e, stop.rejected)
            self.outcomes["rejected"] += 1
            return "rejected"
        self.outcomes["accepted"] += 1
        return "accepted"

    def _reject(self, e: Event, rejected: Rejected) -> None:
        env = e.envelope
        try:
            self.save(Rejection(key=str(env.event_id), event_type=env.event_type,
                                aggregate_type=env.aggregate_type, aggregate_id=env.aggregate_id,
                                rule=rejected.rule, article=rejected.article, message=rejected.message))
        except IntegrityError:
            pass  # the same event rejected before (a publisher's retry)

    def _get(self, kind: type, key: str | None) -> Any:
        if not key:
            return None
        try:
            return self.repository.get(kind.create_id(key))
        except AggregateNotFoundError:
            return None

    def _entry(self, e: Event, policy: Policy, department) -> None:
        env = e.envelope
        entry = self._get(Entry, env.aggregate_id)
        state = entry.state if entry else None
        if state is not None:
            # As the validator: an entry is judged under its own jurisdiction's profile.
            policy = self.policies.policy(state.policy_id) or policy
        sources = self.sources.setdefault(policy.jurisdiction, {})
        verdict = catalog.decide(state, e, catalog.Context(env.aggregate_id, policy, department, sources,
                                                           env.recorded_at))
        if isinstance(verdict, Rejected):
            raise RuleBroken(verdict)
        new = catalog.evolve(state, e)
        if entry is None:
            entry = Entry(key=env.aggregate_id, accepted=record(e), state=plain(new))
        else:
            entry.accept(accepted=record(e), state=plain(new))
        self.save(entry)
        for code in catalog.active_item_codes(state) if state else ():
            if sources.get(code) == new.entry_id:
                del sources[code]
        for code in catalog.active_item_codes(new):
            sources[code] = new.entry_id

    def _on_entry(self, kind: type, rules, e: Event, policy: Policy, department) -> tuple[Any, Any]:
        """Decide an event of a request or objection against the entry it names."""
        env = e.envelope
        agg = self._get(kind, env.aggregate_id)
        state = agg.state if agg else None
        entry_id = state.entry_id if state else getattr(e.payload, "entry_id", None)
        entry = self._get(Entry, entry_id)
        ctx = rules.context(policy, department, entry.state if entry else None, self.policies, env.recorded_at)
        verdict = rules.decide(state, e, ctx)
        if isinstance(verdict, Rejected):
            raise RuleBroken(verdict)
        new = rules.evolve(state, e, ctx)
        if agg is None:
            agg = kind(key=env.aggregate_id, accepted=record(e), state=plain(new))
        else:
            agg.accept(accepted=record(e), state=plain(new))
        return agg, new

    def _request(self, e: Event, policy: Policy, department) -> None:
        request, new = self._on_entry(Request, requests, e, policy, department)
        p, changed = e.payload, [request]
        opens = (isinstance(p, sh.RequestSubmitted) and new.path == "auto") \
            or isinstance(p, sh.RequestApproved) \
            or (isinstance(p, sh.DisputeDecided) and p.outcome == sh.DisputeOutcome.GRANT)
        if opens and self._get(Grant, grant_id(new.request_id)) is None:
            asked = request.asked
            valid_until = end_of_day(date.fromisoformat(asked["period_end"]), policy.timezone)
            changed.append(Grant(
                key=grant_id(new.request_id), request_id=new.request_id, entry_id=new.entry_id,
                grantee=new.requester, items=list(asked["items"]), purpose=asked["purpose"],
                valid_until=valid_until.isoformat(), automatic=isinstance(p, sh.RequestSubmitted)))
        elif isinstance(p, sh.GrantRevoked):
            grant = self._get(Grant, grant_id(new.request_id))
            if grant is not None and grant.status == "open":
                grant.revoke(key=grant.key)
                changed.append(grant)
        self.save(*changed)

    def _objection(self, e: Event, policy: Policy, department) -> None:
        objection, _ = self._on_entry(Objection, objections, e, policy, department)
        self.save(objection)

    def _access(self, e: Event, policy: Policy, department) -> None:
        """Kept whatever it breaks (事中留痕), then compared with its grant as the grant keeper
        does; a second access with the same id is refused by the event store itself."""
        env, p = e.envelope, e.payload
        jurisdiction.expect_next(policy, e, None, creates=True, exists_rule="access-already-recorded",
                                 missing_rule="access-already-recorded")
        access = DataAccess(key=env.aggregate_id, accepted=record(e))
        violations = self._violations(e, p, self._get(Grant, p.grant_id))
        if violations:
            access.flag(key=env.aggregate_id, violations=violations,
                        article=policy.rule("usage-bound-to-grant").article)
        try:
            self.save(access)
        except IntegrityError:
            raise broken(policy, "access-already-recorded", f"{env.aggregate_id} exists.") from None
        self.outcomes["violations"] += bool(violations)

    @staticmethod
    def _violations(e: Event, p: sh.DataAccessed, grant: Grant | None) -> list[str]:
        if grant is None:
            return ["no-grant"]
        found = []
        if e.envelope.occurred_at >= datetime.fromisoformat(grant.valid_until):
            found.append("grant-expired")
        if grant.status == "revoked":
            found.append("grant-revoked")
        if set(p.items) - set(grant.items):
            found.append("items-outside-grant")
        if p.purpose != grant.purpose:
            found.append("other-purpose")
        if e.envelope.actor.department != grant.grantee:
            found.append("not-the-grantee")
        if p.recipient != grant.grantee:
            found.append("third-party")
        return found


# --- the read model ----------------------------------------------------------------------------

# One dialect-neutral text per table and statement: {t} is the table prefix (the schema on
# PostgreSQL), parameters are psycopg's %(name)s (turned into :name for SQLite).
TABLES = [
    "CREATE TABLE IF NOT EXISTS {t}peer_entries (entry_id text PRIMARY KEY, policy_id text, "
    "provider text, status text, version integer, share_type text, item_codes text)",
    "CREATE TABLE IF NOT EXISTS {t}peer_requests (request_id text PRIMARY KEY, entry_id text, "
    "requester text, status text, path text)",
    "CREATE TABLE IF NOT EXISTS {t}peer_grants (grant_id text PRIMARY KEY, request_id text, "
    "grantee text, purpose text, valid_until text, status text)",
    "CREATE TABLE IF NOT EXISTS {t}peer_accesses (access_id text PRIMARY KEY, grant_id text, "
    "department text, purpose text, violations text)",
    "CREATE TABLE IF NOT EXISTS {t}peer_objections (objection_id text PRIMARY KEY, entry_id text, "
    "reporter text, status text)",
    "CREATE TABLE IF NOT EXISTS {t}peer_rejections (event_id text PRIMARY KEY, event_type text, "
    "aggregate_type text, aggregate_id text, rule text, article text)",
]
STATEMENTS = {
    "entry": "INSERT INTO {t}peer_entries VALUES (%(entry_id)s, %(policy_id)s, %(provider)s, "
             "%(status)s, %(version)s, %(share_type)s, %(item_codes)s) ON CONFLICT (entry_id) DO UPDATE "
             "SET status = excluded.status, version = excluded.version, "
             "share_type = excluded.share_type, item_codes = excluded.item_codes",
    "request": "INSERT INTO {t}peer_requests VALUES (%(request_id)s, %(entry_id)s, %(requester)s, "
               "%(status)s, %(path)s) ON CONFLICT (request_id) DO UPDATE SET status = excluded.status",
    "grant": "INSERT INTO {t}peer_grants VALUES (%(grant_id)s, %(request_id)s, %(grantee)s, "
             "%(purpose)s, %(valid_until)s, 'open')",
    "grant_revoked": "UPDATE {t}peer_grants SET status = 'revoked' WHERE grant_id = %(grant_id)s",
    "access": "INSERT INTO {t}peer_accesses VALUES (%(access_id)s, %(grant_id)s, %(department)s, "
              "%(purpose)s, NULL)",
    "violation": "UPDATE {t}peer_accesses SET violations = %(violations)s WHERE access_id = %(access_id)s",
    "objection": "INSERT INTO {t}peer_objections VALUES (%(objection_id)s, %(entry_id)s, %(reporter)s, "
                 "%(status)s) ON CONFLICT (objection_id) DO UPDATE SET status = excluded.status",
    "rejection": "INSERT INTO {t}peer_rejections VALUES (%(event_id)s, %(event_type)s, "
                 "%(aggregate_type)s, %(aggregate_id)s, %(rule)s, %(article)s)",
}
COUNTS = {
    "entries": "SELECT count(*) FROM {t}peer_entries",
    "requests": "SELECT count(*) FROM {t}peer_requests",
    "grants": "SELECT count(*) FROM {t}peer_grants",
    "accesses": "SELECT count(*) FROM {t}peer_accesses",
    "violations": "SELECT count(*) FROM {t}peer_accesses WHERE violations IS NOT NULL",
    "objections": "SELECT count(*) FROM {t}peer_objections",
    "rejections": "SELECT count(*) FROM {t}peer_rejections",
}
Change = tuple[str, dict[str, Any]]


class PeerView(TrackingRecorder, ABC):
    """The read model: changes are applied with their tracking record, atomically."""

    @abstractmethod
    def apply(self, changes: list[Change], tracking: Tracking) -> None: ...

    @abstractmethod
    def counts(self) -> dict[str, int]: ...


class SQLitePeerView(SQLiteTrackingRecorder, PeerView):
    def __init__(self, datastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql = {k: _named(v.format(t="")) for k, v in STATEMENTS.items()}

    def construct_create_table_statements(self) -> list[str]:
        return super().construct_create_table_statements() + [s.format(t="") for s in TABLES]

    def apply(self, changes: list[Change], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as c:
            for name, params in changes:
                c.execute(self.sql[name], params)
            self._insert_tracking(c, tracking)

    def counts(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            out = {}
            for name, q in COUNTS.items():
                c.execute(q.format(t=""))
                out[name] = c.fetchone()[0]
            return out


def _named(statement: str) -> str:
    return re.sub(r"%\((\w+)\)s", r":\1", statement)


class PostgresPeerView(PostgresTrackingRecorder, PeerView):
    def __init__(self, datastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        prefix = '"' + self.datastore.schema.replace('"', '""') + '".'
        self.sql_create_statements.extend(SQL(s.format(t=prefix)) for s in TABLES)
        self.sql = {k: SQL(v.format(t=prefix)) for k, v in STATEMENTS.items()}
        self.count_sql = {k: SQL(v.format(t=prefix)) for k, v in COUNTS.items()}

    def apply(self, changes: list[Change], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for name, params in changes:
                curs.execute(self.sql[name], params, prepare=True)
            self._insert_tracking(curs, tracking)

    def counts(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            out = {}
            for name, q in self.count_sql.items():
                curs.execute(q)
                out[name] = curs.fetchone()["count"]
            return out


class PeerProjection(Projection[PeerView]):
    name = "GovsharePeerView"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply([], tracking)  # nothing to show, but the position is kept

    @process_event.register(Entry.Registered)
    @process_event.register(Entry.Accepted)
    def _entry(self, e: Any, tracking: Tracking) -> None:
        s = e.state
        self.view.apply([("entry", {
            "entry_id": s["entry_id"], "policy_id": s["policy_id"], "provider": s["provider"],
            "status": s["status"], "version": s["version"], "share_type": s["share_type"],
            "item_codes": ",".join(s["item_codes"])})], tracking)

    @process_event.register(Request.Submitted)
    @process_event.register(Request.Accepted)
    def _request(self, e: Any, tracking: Tracking) -> None:
        s = e.state
        self.view.apply([("request", {
            "request_id": s["request_id"], "entry_id": s["entry_id"], "requester": s["requester"],
            "status": s["status"], "path": s["path"]})], tracking)

    @process_event.register(Objection.Reported)
    @process_event.register(Objection.Accepted)
    def _objection(self, e: Any, tracking: Tracking) -> None:
        s = e.state
        self.view.apply([("objection", {
            "objection_id": s["objection_id"], "entry_id": s["entry_id"], "reporter": s["reporter"],
            "status": s["status"]})], tracking)

    @process_event.register(Grant.Opened)
    def _grant(self, e: Any, tracking: Tracking) -> None:
        self.view.apply([("grant", {
            "grant_id": e.key, "request_id": e.request_id, "grantee": e.grantee,
            "purpose": e.purpose, "valid_until": e.valid_until})], tracking)

    @process_event.register(Grant.Revoked)
    def _revoked(self, e: Any, tracking: Tracking) -> None:
        self.view.apply([("grant_revoked", {"grant_id": e.key})], tracking)

    @process_event.register(DataAccess.Recorded)
    def _access(self, e: Any, tracking: Tracking) -> None:
        env, p = e.accepted["envelope"], e.accepted["payload"]
        self.view.apply([("access", {
            "access_id": e.key, "grant_id": p["grant_id"], "department": env["actor"]["department"],
            "purpose": p["purpose"]})], tracking)

    @process_event.register(DataAccess.UsageViolationFlagged)
    def _violation(self, e: Any, tracking: Tracking) -> None:
        self.view.apply([("violation", {"access_id": e.key,
                                        "violations": ",".join(e.violations)})], tracking)

    @process_event.register(Rejection.EventRejected)
    def _rejection(self, e: Any, tracking: Tracking) -> None:
        self.view.apply([("rejection", {
            "event_id": e.key, "event_type": e.event_type, "aggregate_type": e.aggregate_type,
            "aggregate_id": e.aggregate_id, "rule": e.rule, "article": e.article})], tracking)


# --- running it ----------------------------------------------------------------------------------

class PollingRunner:
    """What the library's ProjectionRunner does, for a recorder without subscriptions: follow
    the application's notification log from the view's last tracking position, in a thread,
    and pass each event with its tracking object to the projection."""

    def __init__(self, app: Application, projection: Projection, batch: int = 500, idle: float = 0.002):
        self.app, self.projection, self.batch, self.idle = app, projection, batch, idle
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="peer-projection", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            last = self.projection.view.max_tracking_id(self.app.name) or 0
            while not self._stop.is_set():
                notifications = self.app.recorder.select_notifications(
                    start=last, limit=self.batch, inclusive_of_start=False)
                for n in notifications:
                    self.projection.process_event(self.app.mapper.to_domain_event(n),
                                                  Tracking(self.app.name, n.id))
                    last = n.id
                if len(notifications) < self.batch:
                    self._stop.wait(self.idle)
        except BaseException as exc:  # handed to the caller by check()
            self.error = exc

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class SQLiteNormalSyncFactory(SQLiteFactory):
    """eventsourcing.sqlite's factory, its connections with PRAGMA synchronous=NORMAL (the
    library leaves SQLite's default, FULL; govshare's engine sets NORMAL, both in WAL mode)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        library_pool = self.datastore.pool
        self.datastore.pool = _NormalSyncPool(db_name=library_pool.db_name,
                                              lock_timeout=library_pool.lock_timeout)
        library_pool.close()


class _NormalSyncPool(SQLiteConnectionPool):
    def _create_connection(self):  # type: ignore[override]
        connection = super()._create_connection()
        connection.cursor().execute("PRAGMA synchronous=NORMAL")
        return connection


def environment(database_url: str, sqlite_synchronous: str = "normal") -> tuple[str, dict[str, str]]:
    """The library's settings for a database bench.common.fresh_database made."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        events_file = Path(url.database)
        return "sqlite", {
            "PERSISTENCE_MODULE": get_topic(SQLiteNormalSyncFactory) if sqlite_synchronous == "normal"
            else "eventsourcing.sqlite",
            f"{PeerApplication.name.upper()}_SQLITE_DBNAME": str(events_file),
            f"{PeerProjection.name.upper()}_SQLITE_DBNAME":
                str(events_file.with_name(f"{events_file.stem}-view{events_file.suffix}")),
        }
    options = url.query.get("options", "")
    options = options if isinstance(options, str) else " ".join(options)
    schema = options.split("search_path=", 1)[1].split()[0] if "search_path=" in options else ""
    return "postgresql", {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.database or "test", "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432), "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "", "POSTGRES_SCHEMA": schema,
    }


class Peer:
    """The application, its read model and what runs the projection, for one database."""

    def __init__(self, database_url: str, sqlite_synchronous: str = "normal"):
        self.kind, env = environment(database_url, sqlite_synchronous)
        if self.kind == "postgresql":
            self.runner: Any = ProjectionRunner(application_class=PeerApplication,
                                                projection_class=PeerProjection,
                                                view_class=PostgresPeerView, env=env).__enter__()
            self.app: PeerApplication = self.runner.app
            self.view: PeerView = self.runner.view
            self.projection_runner = "eventsourcing.projection.ProjectionRunner (LISTEN/NOTIFY)"
        else:
            self.app = PeerApplication(env)
            factory = InfrastructureFactory.construct(Environment(PeerProjection.name, {**os.environ, **env}))
            self.view = factory.tracking_recorder(SQLitePeerView)
            self.runner = PollingRunner(self.app, PeerProjection(view=self.view))
            self.projection_runner = "PollingRunner (notification log, thread)"

    def check(self) -> None:
        if isinstance(self.runner, PollingRunner):
            self.runner.check()
        elif self.runner.is_interrupted.is_set():
            self.runner.run_forever(timeout=0)  # re-raises the projection's error
            raise SystemExit("the projection runner stopped")

    def wait_visible(self, timeout: float = 3600, poll: float = 0.01) -> None:
        """Until the read model has processed every event recorded so far."""
        last = self.app.recorder.max_notification_id()
        deadline = time.monotonic() + timeout
        while not self.view.has_tracking_id(self.app.name, last):
            self.check()
            if time.monotonic() > deadline:
                raise SystemExit(f"read model not caught up with notification {last} after {timeout}s")
            time.sleep(poll)

    def close(self) -> None:
        if isinstance(self.runner, PollingRunner):
            self.runner.close()
            self.app.close()
        else:
            self.runner.__exit__(None, None, None)
        self.view.datastore.close()


def run(events: tuple[list[dict], list[dict]], database_url: str, sqlite_synchronous: str = "normal") -> dict:
    """The workload's catalog phase (untimed, waited for), then its traffic phase, timed until
    the read model shows every event."""
    catalog_phase, traffic = ([json.dumps(e, ensure_ascii=False) for e in phase] for phase in events)
    peer = Peer(database_url, sqlite_synchronous)
    try:
        for line in catalog_phase:
            peer.app.submit(line)
        peer.wait_visible()
        before, seen_before = dict(peer.app.outcomes), peer.view.counts()
        start = time.perf_counter()
        for line in traffic:
            peer.app.submit(line)
        submitted = time.perf_counter()
        peer.wait_visible()
        elapsed = time.perf_counter() - start
        outcomes = {k: v - before[k] for k, v in peer.app.outcomes.items()}
        seen = {k: v - seen_before[k] for k, v in peer.view.counts().items()}
    finally:
        peer.close()
    if (seen["rejections"], seen["violations"]) != (outcomes["rejected"], outcomes["violations"]):
        raise SystemExit(f"the read model disagrees with the application: {seen} vs {outcomes}")
    return {"events": len(traffic), "seconds": round(elapsed, 2),
            "events_per_s": round(len(traffic) / elapsed), "accepted": outcomes["accepted"],
            "rejected": seen["rejections"], "violations": seen["violations"],
            "dead_lettered": outcomes["dead_lettered"], "database": peer.kind,
            "submit_seconds": round(submitted - start, 2), "catalog_events_first": len(catalog_phase),
            "read_model": seen, "library": f"eventsourcing {version('eventsourcing')}",
            "projection": peer.projection_runner,
            **({"sqlite_synchronous": sqlite_synchronous} if peer.kind == "sqlite" else {})}


def main() -> None:
    from bench.workload import Province  # the workload generator, only for a run of its own

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sqlite-synchronous", choices=["normal", "full"], default="normal",
                        help="normal as govshare's engine; full is the library's (SQLite's) default")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="govshare-peer-"))
    url = fresh_database(args.database, home, "peer.db")
    result = run(Province().phases(args.events), url, args.sqlite_synchronous)
    print(f"\n{'measure (' + args.database + ')':28} {'events':>8} {'seconds':>8} {'events/s':>9} "
          f"{'accepted':>9} {'rejected':>9} {'violations':>10}")
    print(f"{'peer (pyeventsourcing)':28} {result['events']:>8} {result['seconds']:>8} "
          f"{result['events_per_s']:>9} {result['accepted']:>9} {result['rejected']:>9} "
          f"{result['violations']:>10}")
    save(f"peer-{args.database}", result)


if __name__ == "__main__":
    # Run as bench.peer, not __main__, so the stored events' topics name bench.peer's classes
    # whichever way it was started.
    from bench.peer import main as peer_main
    peer_main()
