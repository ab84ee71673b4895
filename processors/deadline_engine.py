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
from functools import singledispatchmethod
from datetime import datetime, timedelta
from typing import Callable

import structlog
from sqlalchemy import Connection, Engine, func, insert, select, update

from events import catalog as cat
from events import conflict as cf
from events import deadline as dl
from events import directory as dr
from events import objection as ob
from events import sharing as sh
from events import uncatalogued as unc
from events.codec import Event
from events.kinds import Ending
from events.envelope import Envelope
from audit.provenance import StageKeys
from events.publisher import Publisher
from events.records import from_plain, to_json
from events.topics import Topics
from processors.rules import deadlines as rules
from processors import departments, entries, store
from processors.stage import Emitted, EventConsumer
from processors.profiles import Policies
from processors.rules.working_days import WorkingCalendar, calendar_for, local_day
from runtime.loop import Retry, transient

log = structlog.get_logger("govshare.deadlines")
RETRY_FAILED = timedelta(minutes=5)  # how long a deadline whose firing failed waits to fire again
# What a recomputed provisional deadline cites: the schedule that moved it.
CALENDAR_SOURCE = "State Council holiday schedule (国务院办公厅 放假安排), or policies/calendar.toml"


class StaleDeadline(Retry):
    """Another worker changed the deadline first; this transaction must not overwrite it."""


class Scheduler(EventConsumer):
    name = "deadlines"
    person = "deadline-engine"

    def __init__(self, engine: Engine, policies: Policies, topics: Topics, publisher: Publisher,
                 calendars: Callable[[str], WorkingCalendar] = calendar_for, *, keys: StageKeys):
        super().__init__(engine, publisher, keys, topics)
        self.policies, self.calendars = policies, calendars
        self._recalendared = False

    def start(self) -> None:
        with self.engine.begin() as tx:
            departments.seed(tx, self.policies.departments.values())

    # -- accepted events start, fulfil, extend and cancel obligations --------------------

    @singledispatchmethod
    def on(self, payload: object, tx: Connection, event: Event) -> Emitted:
        return []

    @on.register(dr.DepartmentRegistered)
    @on.register(dr.DepartmentChanged)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        # Who is supervised where, and who decides for a jurisdiction, from now on.
        departments.put(tx, event.envelope.aggregate_id, p.policy_id, p.roles)
        return []

    @on.register
    def _(self, p: cat.ChangeObligationRaised, tx: Connection, event: Event) -> Emitted:
        return self._start(tx, event, p)

    @on.register(cat.EntryRegistered)
    @on.register(cat.EntryRevised)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        # Only the provider registers or revises its entry.
        entries.put(tx, event.envelope.aggregate_id, event.envelope.actor.department, p.attributes.update_frequency)
        return []

    @on.register
    def _(self, p: cat.RevisionSubmitted, tx: Connection, event: Event) -> Emitted:
        entries.propose(tx, event.envelope.aggregate_id, p.revision_id, p.attributes.update_frequency)
        return self._fulfil(tx, event, p.obligation_id) if p.obligation_id else []

    @on.register
    def _(self, p: cat.RevisionApproved, tx: Connection, event: Event) -> Emitted:
        entries.approve(tx, event.envelope.aggregate_id, p.revision_id)
        return []

    @on.register
    def _(self, p: cat.AggregationRequired, tx: Connection, event: Event) -> Emitted:
        # 因需归集: the provider aggregates the entry's data within the profile's limit.
        return self._start_round(tx, event, rules.DATA_AGGREGATION, event.envelope.provider)

    @on.register(cat.DataAggregated)
    @on.register(cat.DataRefreshed)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        """Data put on the platform, or refreshed there, meets what was due of it (and an order
        a lapse of it drew), and starts the next refresh limit of the entry's update cycle."""
        owed = {rules.DATA_AGGREGATION, rules.DATA_REFRESH}
        emitted = self._meet(tx, event, lambda d: d.kind in owed or (
            d.kind == rules.RECTIFICATION
            and d.escalates in {rules.deadline_id(k, d.subject_id, d.obligation_id) for k in owed}))
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        limit = policy.refresh_limit(entries.frequency_of(tx, env.aggregate_id))
        if limit is None:
            return emitted
        return emitted + self._start_round(tx, event, rules.DATA_REFRESH, env.provider, limit_id=limit.id)

    @on.register
    def _(self, p: cat.ExtensionGranted, tx: Connection, event: Event) -> Emitted:
        return self._extend(tx, event, p.obligation_id)

    @on.register
    def _(self, p: Ending, tx: Connection, event: Event) -> Emitted:
        return self._cancel(tx, event)

    @on.register(ob.ObjectionReported)
    @on.register(ob.ResolutionContested)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        # A report, or a contested resolution, starts a processing limit from that day.
        return self._start_round(tx, event, rules.OBJECTION_PROCESSING, event.envelope.provider)

    @on.register(ob.ObjectionResolved)
    @on.register(sh.UsageCorrected)
    @on.register(sh.RequestApproved)
    @on.register(sh.RequestRejected)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        return self._fulfil(tx, event, None)

    @on.register
    def _(self, p: ob.UrgentLimitSet, tx: Connection, event: Event) -> Emitted:
        return self._reschedule(tx, event, p.due_at)

    @on.register
    def _(self, p: ob.ObjectionExtensionGranted, tx: Connection, event: Event) -> Emitted:
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            policy = self.policies.policy(d.policy_id)
            moved = rules.extend_to_total(d, p.total_natural_days, policy, self.calendars(policy.jurisdiction))
            if moved is None:
                log.warning("deadlines.extension_beyond_bound", deadline=d.deadline_id)
                continue
            emitted += self._emit(tx, moved[0], moved[1], env.recorded_at, env)[1]
        return emitted

    @on.register
    def _(self, p: sh.RequestSubmitted, tx: Connection, event: Event) -> Emitted:
        if event.envelope.route == "auto":
            return []
        return self._start_answer(tx, event, self._review_policy(tx, event.envelope))

    @on.register
    def _(self, p: sh.ProviderConsulted, tx: Connection, event: Event) -> Emitted:
        return self._start_round(tx, event, rules.PROVIDER_ANSWER, event.envelope.provider,
                                 policy=self._review_policy(tx, event.envelope))

    @on.register
    def _(self, p: sh.ProviderAnswered, tx: Connection, event: Event) -> Emitted:
        return self._fulfil(tx, event, None, kind=rules.PROVIDER_ANSWER)

    @on.register
    def _(self, p: unc.UncataloguedDataRequested, tx: Connection, event: Event) -> Emitted:
        # The holder answers within its own jurisdiction's limit (GD-2008 Art. 22: 15 working days).
        holder = event.envelope.provider
        return self._start_round(tx, event, rules.UNCATALOGUED_ANSWER, holder,
                                 policy=self._profile_of(tx, holder, event.envelope.policy_id))

    @on.register
    def _(self, p: unc.UncataloguedRequestAnswered, tx: Connection, event: Event) -> Emitted:
        return self._fulfil(tx, event, None)

    @on.register
    def _(self, p: cf.ValueConflictReported, tx: Connection, event: Event) -> Emitted:
        # 及时协商 (GD-2018 Art. 13): each provider whose data differ negotiates within the limit.
        env, emitted = event.envelope, []
        for party in entries.providers_of(tx, [p.entry_id, p.other_entry_id]) or [env.provider]:
            emitted += self._start_round(tx, event, rules.CONFLICT_NEGOTIATION, party)
        return emitted

    @on.register(cf.ConflictNegotiated)
    @on.register(cf.ConflictReferred)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        return self._fulfil(tx, event, None, kind=rules.CONFLICT_NEGOTIATION)

    @on.register
    def _(self, p: sh.UsageViolationFlagged, tx: Connection, event: Event) -> Emitted:
        # The violation is itself the order to correct within a limit (GD-2008 Art. 40: 责令其
        # 限期改正), under the user's own measures; its lapse draws criticism (逾期不改正的…通报
        # 批评), as a rectification order's does. No limit runs before the order.
        policy = self._profile_of(tx, p.department, event.envelope.policy_id)
        order, emitted = self._schedule_round(tx, event, rules.RECTIFICATION, p.department, policy=policy,
                                              limit_id=rules.USAGE_CORRECTION)
        if order is None:
            return emitted
        ordered = dl.RectificationOrdered(party=p.department, rectification_deadline_id=order.deadline_id,
                                          due_at=order.due_at,
                                          article=policy.limits[rules.USAGE_CORRECTION].article)
        return emitted + self._emit(tx, order, ordered, event.envelope.recorded_at, event.envelope)[1]

    def _start(self, tx: Connection, event: Event, p: cat.ChangeObligationRaised) -> Emitted:
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        # The provider must act, whoever raised the obligation; the validator names it.
        provider = env.provider or env.actor.department
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

    def _review_policy(self, tx: Connection, env: Envelope):
        """A request is reviewed under the profile of its entry's jurisdiction: the provider's,
        whatever the requester's is."""
        return self._profile_of(tx, env.provider or "", env.policy_id)

    def _start_answer(self, tx: Connection, event: Event, policy) -> Emitted:
        """The limit for answering a reviewed request runs for whom the profile names: the data
        authority (GD-2018 Art. 19), or the provider (GD-2008 Art. 22), whose lateness is then
        a provider's breach like an unanswered consultation."""
        limit = policy.limits.get("request-decision")
        if limit is not None and limit.party == "provider":
            return self._start_round(tx, event, rules.PROVIDER_ANSWER, event.envelope.provider,
                                     policy=policy, limit_id="request-decision")
        authority = departments.authority_of(tx, policy.id) or "data-authority"
        return self._start_round(tx, event, rules.REQUEST_DECISION, authority, policy=policy)

    def _reschedule(self, tx: Connection, event: Event, due_at: datetime) -> Emitted:
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            policy = self.policies.policy(d.policy_id)
            limit = policy.limits.get("objection-urgent")
            if limit is None:
                continue
            moved = replace(d, due_at=due_at, warn_at=None, warned=False, provisional=False,
                            last_day=local_day(due_at, policy.timezone))
            emitted += self._emit(tx, moved, dl.DeadlineRescheduled(
                previous_due_at=d.due_at, due_at=due_at, article=limit.article), env.recorded_at, env)[1]
        return emitted

    def _start_round(self, tx: Connection, event: Event, kind: str, party: str | None, *,
                     policy=None, limit_id: str | None = None) -> Emitted:
        return self._schedule_round(tx, event, kind, party, policy=policy, limit_id=limit_id)[1]

    def _schedule_round(self, tx: Connection, event: Event, kind: str, party: str | None, *,
                        policy=None, limit_id: str | None = None) -> tuple[rules.Deadline | None, Emitted]:
        """A limit named like its kind in the profile (or `limit_id`), running from the day the
        event was received, under the event's profile unless `policy` is given. Each start is a
        new round (a second consultation, a contested resolution), counted from the deadlines
        of this kind already started, so none is scheduled twice. The deadline as scheduled
        (None where the profile sets no such limit), and what it emitted."""
        env = event.envelope
        policy = policy or self.policies.policy(env.policy_id)
        limit_id = limit_id or kind
        rounds = tx.execute(select(func.count()).select_from(store.deadlines).where(
            store.deadlines.c.subject_id == env.aggregate_id,
            store.deadlines.c.kind == kind)).scalar_one()
        d = rules.schedule(kind, limit_id, subject_type=env.aggregate_type, subject_id=env.aggregate_id,
                           obligation_id=f"round-{rounds + 1}", party=party or env.actor.department,
                           started_on=local_day(env.recorded_at, policy.timezone),
                           policy=policy, calendar=self.calendars(policy.jurisdiction))
        if d is None:
            log.info("deadlines.no_limit", policy=policy.id, kind=kind)
            return None, []
        return self._emit(tx, d, rules.scheduled_event(d, policy, limit_id), env.recorded_at, env, new=True)

    def _fulfil(self, tx: Connection, event: Event, obligation_id: str | None,
                kind: str | None = None) -> Emitted:
        """Close the subject's open deadlines for the obligation, or of the kind (all of them,
        if neither is named)."""
        return self._meet(tx, event, lambda d: (obligation_id is None or d.obligation_id == obligation_id)
                          and kind in (None, d.kind))

    def _meet(self, tx: Connection, event: Event, which: Callable[[rules.Deadline], bool]) -> Emitted:
        """Close the subject's open deadlines `which` selects: met, or breached if it came late."""
        env, emitted = event.envelope, []
        for d in self._open_for(tx, env.aggregate_id):
            if which(d):
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
        """Fire everything due at `now`; returns how many events were emitted.

        A deadline whose firing fails (a bug, a value the tables refuse) must not hold back the
        others: the batch is then fired one deadline at a time, and a failing one is set aside
        for `RETRY_FAILED` and logged, while the rest fire."""
        total = 0
        if not self._recalendared:
            total += self._recalendar(now)
            self._recalendared = True
        while True:
            with self.engine.connect() as conn:
                # Workers tick concurrently: on PostgreSQL each fires under row locks below and
                # skips those another holds; everywhere, _emit refuses to overwrite a newer state.
                due = list(conn.scalars(
                    select(store.deadlines.c.deadline_id)
                    .where(store.deadlines.c.next_fire_at <= store.micros(now))
                    .order_by(store.deadlines.c.next_fire_at).limit(batch)))
            if not due:
                return total
            try:
                total += self._fire_all(due, now)
            except Exception as exc:
                if transient(exc):
                    raise
                for deadline_id in due:
                    total += self._fire_alone(deadline_id, now)
            if len(due) < batch:
                return total

    def _recalendar(self, now: datetime) -> int:
        """Compute the open provisional deadlines again with the calendar this worker started
        with: a new chinese-calendar, or a year's schedule in policies/calendar.toml, arrives
        with a restart. Each one that moved, or is no longer provisional, says so."""
        emitted: Emitted = []
        with self.engine.begin() as tx:
            for r in tx.execute(select(store.deadlines.c.state)
                                .where(store.deadlines.c.status == rules.OPEN)):
                d = self._load(r.state)
                if not d.provisional:
                    continue
                policy = self.policies.policy(d.policy_id)
                moved = rules.recalendar(d, policy, self.calendars(policy.jurisdiction), CALENDAR_SOURCE)
                if moved is not None:
                    log.info("deadline.recalendared", deadline=d.deadline_id, due_at=moved[0].due_at.isoformat(),
                             provisional=moved[0].provisional)
                    emitted += self._emit(tx, moved[0], moved[1], now, None)[1]
            staged = self.outbox.stage_many(tx, emitted)
        self.outbox.publish(staged)
        return len(staged)

    def _fire_all(self, deadline_ids: list[str], now: datetime) -> int:
        with self.engine.begin() as tx:
            emitted: Emitted = []
            for r in tx.execute(select(store.deadlines.c.state)
                                .where(store.deadlines.c.deadline_id.in_(deadline_ids),
                                       store.deadlines.c.next_fire_at <= store.micros(now))
                                .order_by(store.deadlines.c.next_fire_at)
                                .with_for_update(skip_locked=True)):
                emitted += self._fire(tx, self._load(r.state), now)
            staged = self.outbox.stage_many(tx, emitted)
        self.outbox.publish(staged)
        return len(staged)

    def _fire_alone(self, deadline_id: str, now: datetime) -> int:
        try:
            return self._fire_all([deadline_id], now)
        except Exception as exc:
            if transient(exc):
                raise
            log.error("deadline.fire_failed", deadline=deadline_id, error=f"{type(exc).__name__}: {exc}",
                      retry_after_s=RETRY_FAILED.total_seconds())
            with self.engine.begin() as tx:
                tx.execute(update(store.deadlines).where(store.deadlines.c.deadline_id == deadline_id)
                           .values(next_fire_at=store.micros(now + RETRY_FAILED)))
            return 0

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

    def _supervising(self, tx: Connection, d: rules.Deadline):
        """The profile the party is supervised under: its own jurisdiction's (a Ningbo
        department is ordered under Ningbo Art. 34), whoever's obligation it breached."""
        return self._profile_of(tx, d.party, d.policy_id)

    def _profile_of(self, tx: Connection, department: str, otherwise: str):
        """The profile of the department's jurisdiction in the engine's directory, or `otherwise`
        for a department it does not hold."""
        return self.policies.policy(departments.policy_of(tx, department) or otherwise)

    def _escalate(self, tx: Connection, d: rules.Deadline) -> Emitted:
        """限期改正, then 通报批评 (GD-2008 Art. 40), where the party's policy provides them."""
        policy = self._supervising(tx, d)
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
        event_id = uuid.uuid5(rules.DEADLINE_NAMESPACE, f"{d.deadline_id}:{d.sequence}")
        source = f"deadline:{cause.event_id}" if cause else f"tick:{event_id}"
        return d, [(source, self.outbox.event(payload, aggregate_id=d.deadline_id, sequence=d.sequence, at=at,
                                              event_id=event_id, policy_id=d.policy_id, cause=cause,
                                              correlation_id=None if cause else uuid.UUID(d.deadline_id)))]
