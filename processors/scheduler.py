"""The deadline engine: schedules legal time limits from accepted events and fires warnings,
breaches and escalations as the clock passes them.

State is one row per deadline in the database, written in the same transaction as the consumed
position and the outbox, so a restarted worker neither forgets a deadline nor fires one twice;
every emitted event has a deterministic id, so a re-sent one is harmless downstream.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update

from events import catalog as cat
from events import deadline as dl
from events import objection as ob
from events import sharing as sh
from events.codec import Event, encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from events.publisher import Outgoing, Publisher
from events.records import from_plain, to_json
from events.registry import kind_for
from events.topics import Topics
from processors import deadlines as rules
from processors import store
from processors.consumer import Emitted, EventConsumer
from processors.profiles import Policies
from processors.working_days import WorkingCalendar, calendar_for

log = structlog.get_logger("govshare.deadlines")
SCHEDULER = Actor(department="govshare", person="deadline-engine", role=Role.SYSTEM)


class StaleDeadline(RuntimeError):
    """Another worker changed the deadline first; this transaction must not overwrite it."""


class Scheduler(EventConsumer):
    consumer = "deadlines"
    handles = (cat.ChangeObligationRaised, cat.RevisionSubmitted, cat.ExtensionGranted,
               cat.EntryTakenDown, ob.ObjectionReported, ob.ResolutionContested,
               ob.ObjectionResolved, ob.UrgentLimitSet, ob.ObjectionExtensionGranted,
               sh.RequestSubmitted, sh.ProviderConsulted, sh.ProviderAnswered,
               sh.RequestApproved, sh.RequestRejected)

    def __init__(self, engine: Engine, policies: Policies, topics: Topics, cluster_id: str,
                 publisher: Publisher,
                 calendars: Callable[[str], WorkingCalendar] = calendar_for):
        super().__init__(engine, cluster_id, publisher, log)
        self.policies, self.topics, self.calendars = policies, topics, calendars

    # -- accepted events start, fulfil, extend and cancel obligations --------------------

    def apply(self, tx: Connection, event: Event) -> Emitted:
        p = event.payload
        if event.envelope.aggregate_type == ob.AGGREGATE:
            return self._apply_objection(tx, event)
        if event.envelope.aggregate_type == sh.REQUEST:
            return self._apply_request(tx, event)
        if isinstance(p, cat.ChangeObligationRaised):
            return self._start(tx, event, p)
        if isinstance(p, cat.RevisionSubmitted) and p.obligation_id:
            return self._fulfil(tx, event, p.obligation_id)
        if isinstance(p, cat.ExtensionGranted):
            return self._extend(tx, event, p.obligation_id)
        if isinstance(p, cat.EntryTakenDown):
            return self._cancel(tx, event)
        return []

    def _start(self, tx: Connection, event: Event, p: cat.ChangeObligationRaised) -> Emitted:
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        provider = self._provider(tx, env)
        d = rules.schedule(rules.CATALOG_UPDATE, "catalog-update", subject_type=env.aggregate_type,
                           subject_id=env.aggregate_id, obligation_id=p.obligation_id,
                           party=provider, started_on=p.received_on, policy=policy,
                           calendar=self.calendars(policy.jurisdiction))
        if d is None:
            log.info("deadlines.no_limit", policy=policy.id, kind=rules.CATALOG_UPDATE)
            return []
        if tx.execute(select(store.deadlines.c.deadline_id).where(
                store.deadlines.c.deadline_id == d.deadline_id)).first():
            return []  # this obligation's deadline runs already
        return self._emit(tx, d, rules.scheduled_event(d, policy, "catalog-update"),
                          env.recorded_at, env, new=True)[1]

    def _apply_objection(self, tx: Connection, event: Event) -> Emitted:
        env, p = event.envelope, event.payload
        state = self._aggregate(tx, env.aggregate_type, env.aggregate_id)
        if isinstance(p, (ob.ObjectionReported, ob.ResolutionContested)):
            # A report, or a contested resolution, starts a processing limit from that day.
            return self._start_objection_round(tx, event, state)
        if isinstance(p, ob.ObjectionResolved):
            return self._fulfil(tx, event, None)
        if isinstance(p, ob.UrgentLimitSet):
            return self._reschedule(tx, event, p.due_at)
        if isinstance(p, ob.ObjectionExtensionGranted):
            emitted = []
            for d in self._open_for(tx, env.aggregate_id):
                policy = self.policies.policy(d.policy_id)
                moved = rules.extend_to_total(d, p.total_natural_days, policy,
                                              self.calendars(policy.jurisdiction))
                if moved is None:
                    log.warning("deadlines.extension_beyond_bound", deadline=d.deadline_id)
                    continue
                emitted += self._emit(tx, moved[0], moved[1], env.recorded_at, env)[1]
            return emitted
        return []

    def _apply_request(self, tx: Connection, event: Event) -> Emitted:
        env, p = event.envelope, event.payload
        state = self._aggregate(tx, env.aggregate_type, env.aggregate_id)
        policy = self.policies.policy(env.policy_id)
        if isinstance(p, sh.RequestSubmitted) and state.get("path") != "auto":
            authority = next((d.id for d in self.policies.departments.values()
                              if d.authority and d.policy_id == policy.id), "data-authority")
            return self._start_simple(tx, event, rules.REQUEST_DECISION, authority)
        if isinstance(p, sh.ProviderConsulted):
            return self._start_simple(tx, event, rules.PROVIDER_ANSWER, state["provider"])
        if isinstance(p, sh.ProviderAnswered):
            return self._fulfil(tx, event, rules.PROVIDER_ANSWER)
        if isinstance(p, (sh.RequestApproved, sh.RequestRejected)):
            return self._fulfil(tx, event, None)
        return []

    def _start_simple(self, tx: Connection, event: Event, kind: str, party: str) -> Emitted:
        """A limit named like its kind in the profile, running from the day of the event."""
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        d = rules.schedule(kind, kind, subject_type=env.aggregate_type, subject_id=env.aggregate_id,
                           obligation_id=kind, party=party,
                           started_on=env.recorded_at.astimezone(ZoneInfo(policy.timezone)).date(),
                           policy=policy, calendar=self.calendars(policy.jurisdiction))
        if d is None:
            log.info("deadlines.no_limit", policy=policy.id, kind=kind)
            return []
        return self._emit(tx, d, rules.scheduled_event(d, policy, kind), env.recorded_at, env,
                          new=True)[1]

    def _reschedule(self, tx: Connection, event: Event, due_at: datetime) -> Emitted:
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            policy = self.policies.policy(d.policy_id)
            limit = policy.limits.get("objection-urgent")
            if limit is None:
                continue
            moved = replace(d, due_at=due_at, warn_at=None, warned=False,
                            last_day=due_at.astimezone(ZoneInfo(policy.timezone)).date())
            emitted += self._emit(tx, moved, dl.DeadlineRescheduled(
                previous_due_at=d.due_at, due_at=due_at, article=limit.article), env.recorded_at, env)[1]
        return emitted

    def _start_objection_round(self, tx: Connection, event: Event, state: dict) -> Emitted:
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        received = env.recorded_at.astimezone(ZoneInfo(policy.timezone)).date()
        # Count rounds from the deadlines already started, not from the validator's state,
        # which may be ahead of this event.
        rounds = tx.execute(select(func.count()).select_from(store.deadlines).where(
            store.deadlines.c.subject_id == env.aggregate_id,
            store.deadlines.c.kind == rules.OBJECTION_PROCESSING)).scalar_one()
        d = rules.schedule(rules.OBJECTION_PROCESSING, "objection-processing",
                           subject_type=env.aggregate_type, subject_id=env.aggregate_id,
                           obligation_id=f"round-{rounds + 1}", party=state["provider"],
                           started_on=received, policy=policy,
                           calendar=self.calendars(policy.jurisdiction))
        if d is None:
            log.info("deadlines.no_limit", policy=policy.id, kind=rules.OBJECTION_PROCESSING)
            return []
        return self._emit(tx, d, rules.scheduled_event(d, policy, "objection-processing"),
                          env.recorded_at, env, new=True)[1]

    def _aggregate(self, tx: Connection, aggregate_type: str, aggregate_id: str) -> dict:
        """The validator's current state of an aggregate, as it recorded it."""
        row = tx.execute(select(store.aggregates.c.state).where(
            store.aggregates.c.aggregate_type == aggregate_type,
            store.aggregates.c.aggregate_id == aggregate_id)).first()
        return json.loads(row.state) if row else {}

    def _provider(self, tx: Connection, env: Envelope) -> str:
        # The provider is the department that registered the entry; an authority may raise
        # the obligation, but the provider must act.
        return self._aggregate(tx, env.aggregate_type, env.aggregate_id).get(
            "provider", env.actor.department)

    def _fulfil(self, tx: Connection, event: Event, obligation_id: str | None) -> Emitted:
        """Close the subject's open deadlines for the obligation (all of them, if None)."""
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            if obligation_id is None or d.obligation_id == obligation_id:
                done = rules.fulfil(d, env.recorded_at, str(env.event_id))
                if done:
                    emitted += self._emit(tx, done[0], done[1], env.recorded_at, env)[1]
        return emitted

    def _extend(self, tx: Connection, event: Event, obligation_id: str) -> Emitted:
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            if d.obligation_id == obligation_id and d.kind == rules.CATALOG_UPDATE:
                policy = self.policies.policy(d.policy_id)
                moved = rules.extend(d, policy, self.calendars(policy.jurisdiction))
                if moved is None:
                    log.warning("deadlines.extension_beyond_bound", deadline=d.deadline_id)
                    continue
                emitted += self._emit(tx, moved[0], moved[1], env.recorded_at, env)[1]
        return emitted

    def _cancel(self, tx: Connection, event: Event) -> Emitted:
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            emitted += self._emit(tx, replace(d, status=rules.CANCELLED),
                                  dl.DeadlineCancelled(reason=f"{env.event_type}: subject went away"),
                                  env.recorded_at, env)[1]
        return emitted

    # -- the clock fires warnings and breaches ------------------------------------------

    def tick(self, now: datetime, batch: int = 1000) -> int:
        """Fire everything due at `now`; returns how many events were emitted."""
        total = 0
        while True:
            with self.engine.begin() as tx:
                # Workers tick concurrently: on PostgreSQL each locks the rows it fires and skips
                # those another holds; everywhere, _emit refuses to overwrite a newer state.
                due = [self._load(r.state) for r in tx.execute(
                    select(store.deadlines.c.state)
                    .where(store.deadlines.c.next_fire_at <= store.micros(now))
                    .order_by(store.deadlines.c.next_fire_at).limit(batch)
                    .with_for_update(skip_locked=True))]
                emitted: Emitted = []
                for d in due:
                    emitted += self._fire(tx, d, now)
            self.outbox.publish(emitted)
            total += len(emitted)
            if len(due) < batch:
                return total

    def _fire(self, tx: Connection, d: rules.Deadline, now: datetime) -> Emitted:
        action = rules.due_now(d, now)
        if action == "warn":
            return self._emit(tx, replace(d, warned=True),
                              dl.DeadlineWarningIssued(due_at=d.due_at), d.warn_at, None)[1]
        if action != "breach":
            return []
        log.info("deadline.breached", deadline=d.deadline_id, party=d.party, kind=d.kind)
        breached, emitted = self._emit(tx, replace(d, status=rules.BREACHED),
                                       dl.DeadlineBreached(due_at=d.due_at), d.due_at, None)
        return emitted + self._escalate(tx, breached)

    def _escalate(self, tx: Connection, d: rules.Deadline) -> Emitted:
        """限期改正, then 通报批评 (GD-2008 Art. 40), where the policy provides them."""
        policy = self.policies.policy(d.policy_id)
        if d.kind not in rules.ESCALATES and d.kind != rules.RECTIFICATION:
            return []
        if d.kind == rules.RECTIFICATION:
            if not policy.applies("criticism"):
                return []
            sanction = dl.CriticismCirculated(party=d.party, article=policy.rule("criticism").article)
            return self._emit(tx, d, sanction, d.due_at, None)[1]
        order = rules.schedule(rules.RECTIFICATION, "rectification", subject_type=d.subject_type,
                               subject_id=d.subject_id, obligation_id=d.obligation_id,
                               party=d.party, started_on=d.last_day, policy=policy,
                               calendar=self.calendars(policy.jurisdiction), escalates=d.deadline_id)
        if order is None:
            return []
        ordered = dl.RectificationOrdered(party=d.party, rectification_deadline_id=order.deadline_id,
                                          due_at=order.due_at,
                                          article=policy.limits["rectification"].article)
        emitted = self._emit(tx, d, ordered, d.due_at, None)[1]
        return emitted + self._emit(tx, order, rules.scheduled_event(order, policy, "rectification"),
                                    d.due_at, None, new=True)[1]

    # -- state and output ---------------------------------------------------------------

    def _open_for(self, tx: Connection, subject_id: str) -> list[rules.Deadline]:
        rows = tx.execute(select(store.deadlines.c.state).where(
            store.deadlines.c.subject_id == subject_id, store.deadlines.c.status == rules.OPEN))
        return [self._load(r.state) for r in rows]

    @staticmethod
    def _load(text: str) -> rules.Deadline:
        return from_plain(rules.Deadline, json.loads(text))

    def _emit(self, tx: Connection, d: rules.Deadline, payload: object, at: datetime,
              cause: Envelope | None, new: bool = False) -> tuple[rules.Deadline, Emitted]:
        """Record the deadline's new state and stage the event that says what happened."""
        d = replace(d, sequence=d.sequence + 1)
        row = dict(subject_id=d.subject_id, kind=d.kind, status=d.status, sequence=d.sequence,
                   state=json.dumps(to_json(d)),
                   next_fire_at=store.micros(d.next_fire_at) if d.next_fire_at else None)
        if new:
            tx.execute(insert(store.deadlines), dict(deadline_id=d.deadline_id, **row))
        else:
            # Compare-and-set on the sequence: a worker holding a stale state loses.
            done = tx.execute(update(store.deadlines).where(
                store.deadlines.c.deadline_id == d.deadline_id,
                store.deadlines.c.sequence == d.sequence - 1).values(**row))
            if done.rowcount != 1:
                raise StaleDeadline(f"{d.deadline_id} changed under this worker")
        kind = kind_for(payload)
        event_id = uuid.uuid5(rules.DEADLINE_NAMESPACE, f"{d.deadline_id}:{d.sequence}")
        envelope = Envelope(
            event_id=event_id, event_type=kind.event_type, schema_version=kind.version,
            aggregate_type=dl.AGGREGATE, aggregate_id=d.deadline_id, sequence=d.sequence,
            occurred_at=at, recorded_at=at, actor=SCHEDULER, policy_id=d.policy_id,
            correlation_id=cause.correlation_id if cause else uuid.UUID(d.deadline_id),
            causation_id=cause.event_id if cause else None, source="govshare/deadline-engine")
        out = Outgoing(self.topics.events(dl.AGGREGATE), d.deadline_id.encode(),
                       encode_payload(payload), to_headers(envelope))
        source = f"deadline:{cause.event_id}" if cause else f"tick:{event_id}"
        return d, [self.outbox.stage(tx, source, out)]
