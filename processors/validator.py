"""Checks each published event against the rules and the aggregate's state, in one transaction.

Outcomes, exactly one per inbox message: the event is accepted (appended to its aggregate's
event topic), rejected (an EventRejected naming the rule and article), or dead-lettered (bytes
that are not a known encoding, with the reason). Outputs go to the outbox first and are
published after the commit; delivery is at-least-once with deterministic ids, so a re-sent
output is harmless downstream.
"""
from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from events import catalog as catalog_events
from events import bounds, deadletter, signing
from events import directory as directory_events
from events import objection as objection_events
from events import entrustment as entrustment_events
from events import conflict as conflict_events
from events import incident as incident_events
from events import opendata as opendata_events
from events import project as project_events
from events import uncatalogued as uncatalogued_events
from events import operations as operation_events
from events import sharing as sharing_events
from events.codec import Event, decode_message, encode_payload, to_headers
from events.envelope import Actor, Envelope, Role
from events.errors import DecodeError
from audit.provenance import StageKeys
from events.publisher import Outgoing, Publisher
from events.registry import kind_of
from events.rejection import EventRejected, attempter
from events.topics import AGGREGATE_TYPES, Topics
from processors import directory_store, store
from processors.rules.consult import Consult
from processors.rules.working_days import local_day
from processors.rules import (
    catalog, conflicts, directory, dismissals, entrustments, incidents, jurisdiction, objections, opendata,
    projects, requests, uncatalogued,
)
from processors.aggregates import AggregateStates, state_of, state_text
from runtime.clock import Clock, SystemClock
from processors.profiles import Policies
from processors.rules.verdicts import Rejected, RuleBroken, broken
from runtime.loop import Retry
from runtime.message import Incoming
from runtime.outbox import Outbox, Staged

log = structlog.get_logger("govshare.validator")

# Deterministic ids for what the validator emits, so a redelivered input yields the same ids.
OUTPUT_NAMESPACE = uuid.UUID("6f1c2c3e-6a8e-4d0f-9a51-5a7c0e0b9d21")
# How often a worker reads the directory again, for the changes other workers accepted.
DIRECTORY_RELOAD_SECONDS = 5.0


class Validator:
    """The first stage: decides each inbox message (see the module's docstring)."""
    name = "validator"
    ring = None  # inboxes are anyone's to write: what arrives there is judged, not trusted

    def __init__(self, engine: Engine, policies: Policies, topics: Topics, publisher: Publisher,
                 *, keys: StageKeys, department_keys: Path | None = None, clock: Clock = SystemClock()):
        """`department_keys`: where the public keys of the first directory are (`<department>.pub`),
        read once, when the directory is empty; `clock`: when a message counts as received."""
        self.engine, self.policies, self.topics, self.clock = engine, policies, topics, clock
        self.outbox = Outbox(engine, publisher, self.name, keys.signer(self.name), topics=topics,
                             actor=Actor(department="govshare", person="validator", role=Role.SYSTEM))
        self.department_keys = department_keys
        # Each aggregate's events judged by its rules (processors/rules/), against its state.
        self._judges = {directory_events.AGGREGATE: self._judge_directory, catalog_events.AGGREGATE: self._judge_entry,
                        sharing_events.ACCESS: self._judge_access,
                        objection_events.AGGREGATE: self._judge_on_entry(objections, objections.ObjectionState),
                        sharing_events.REQUEST: self._judge_on_entry(requests, requests.RequestState),
                        operation_events.AGGREGATE: self._judge_once(dismissals),
                        incident_events.AGGREGATE: self._judge_once(incidents),
                        **{module.AGGREGATE: self._judge_with(rules) for module, rules in (
                            (entrustment_events, entrustments), (uncatalogued_events, uncatalogued),
                            (conflict_events, conflicts), (project_events, projects),
                            (opendata_events, opendata))}}
        self._inboxes = frozenset(topics.inbox(a) for a in AGGREGATE_TYPES)
        self.directory = directory.Directory()  # read in the first batch (`_reload_at` passed)
        self._reload_at = 0.0

    def start(self) -> None:
        """Before the first message: the directory in the database; on the first start, the
        one govshare begins with, registered now and recorded by events (which the runner
        then relays)."""
        with self.engine.begin() as tx:
            if directory_store.load(tx):
                return
            try:
                with tx.begin_nested():
                    seeded = directory_store.seed(tx, self.policies, directory_store.public_keys_in(self.department_keys),
                                            self.clock.now())
                    self.outbox.stage_many(tx, [(None, self._accepted(e, encode_payload(e.payload)))
                                                for e in seeded])
            except IntegrityError:
                pass  # another worker registered it first

    def decode(self, message: Incoming) -> Event | DecodeError:
        """Decoded once, here; bytes that are no event, or a message to a topic that is no
        inbox, are answered with a dead letter."""
        if message.topic not in self._inboxes:
            return DecodeError(f"{message.topic} is not a govshare inbox; the inboxes are "
                               f"{', '.join(sorted(self._inboxes))} (contract/asyncapi.json)")
        try:
            return decode_message(message.headers, message.value)
        except DecodeError as exc:
            return exc

    def apply(self, tx: Connection, batch: list[tuple[Incoming, Event | DecodeError]]) -> Staged:
        """Decide a batch inside the runtime's transaction; returns the outputs to publish, in
        order (earlier answers again for a publisher's retry)."""
        # The directory's events first: a revocation, or a role taken away, received before a
        # submission of the same batch is in force when it is judged, whichever inbox each came
        # on. The directory is kept by receive time, so one received after a submission changes
        # nothing for it.
        batch = sorted(batch, key=lambda item: not _of_directory(item[1]))
        events = [e for _, e in batch if isinstance(e, Event)]
        if time.monotonic() >= self._reload_at:
            # What another worker (or a batch since rolled back) changed in the directory.
            self.directory = directory_store.load(tx)
            self._reload_at = time.monotonic() + DIRECTORY_RELOAD_SECONDS
        # Bounds first, for the whole batch: a value no table can hold (PostgreSQL's text refuses
        # NUL) reaches no query, the prefetch's included; what breaks them is refused unread.
        unfit = _out_of_bounds(self.policies, batch)
        states = AggregateStates(tx)
        states.prefetch(_keys([e for e in events if id(e) not in unfit]))
        earlier = self.outbox.staged_for(tx, [str(e.envelope.event_id) for e in events])
        decided: list = []
        new_at: list[int] = []  # which of `decided` are new outputs, still to be staged
        again_at: list[int] = []  # which are earlier outputs, put out again
        for message, event in batch:
            if isinstance(event, DecodeError):
                new_at.append(len(decided))
                decided.append((None, self._dead_letter(message, str(event))))
                continue
            event_id = str(event.envelope.event_id)
            if event_id in earlier:
                # A publisher retried an event already decided: answer again with the same outputs.
                log.info("event.redelivered", event_id=event_id)
                again_at.extend(range(len(decided), len(decided) + len(earlier[event_id])))
                decided.extend(earlier[event_id])
                continue
            new_at.append(len(decided))
            decided.append((event_id, self._judge(tx, states, message, event, unfit.get(id(event)))))
            earlier[event_id] = []  # a second copy within this batch is a redelivery too
        states.flush()
        staged = self.outbox.stage_many(tx, [decided[i] for i in new_at])
        for i, row in zip(new_at, staged):
            decided[i] = row
        for i, row in zip(again_at, self.outbox.signed_again(tx, [decided[i] for i in again_at])):
            decided[i] = row
        return decided

    def _judge(self, tx: Connection, states: AggregateStates, message: Incoming, event: Event,
               unfit: Rejected | None) -> Outgoing:
        """`unfit`: the event's refusal for values out of bounds, found before the batch read anything."""
        env = event.envelope
        received = self.clock.received(message.timestamp)
        at = store.micros(received)
        value = message.value or b""
        # Who sent it, proven: whom a refusal is listed under, whichever rule it breaks.
        signer = _signer(env, value, self.directory, at)
        if unfit is not None:
            return self._rejection(event, unfit, received, signer)
        try:
            # Who acts, as the directory stood when the message was received.
            policy, department = jurisdiction.resolve(
                event, self.policies, lambda d: self.directory.department(d, at))
            # The policy left out is the department's jurisdiction, on record; and the rules'
            # "now" is when the message was received, whatever a publisher claimed.
            env = replace(env, policy_id=policy.id, recorded_at=received)
            event = Event(env, event.payload)
            _publishable(event, policy)
            _role_held(event, department, policy)
            _signed(event, department, self.directory, at, policy, signer)
            judge = self._judges[env.aggregate_type]
            established = judge(tx, states, event, policy, department, at)
        except RuleBroken as stop:
            states.drop()
            return self._rejection(event, stop.rejected, received, signer)
        states.keep()
        log.debug("event.accepted", event_id=str(env.event_id), type=env.event_type,
                  aggregate=env.aggregate_id, sequence=env.sequence)
        # The payload goes on as it came: decoded once, never encoded again.
        return self._accepted(Event(env.recorded(received, **established), event.payload), value)

    def _accepted(self, event: Event, value: bytes) -> Outgoing:
        env = event.envelope
        return Outgoing(self.topics.events(env.aggregate_type), env.aggregate_id.encode(), value, to_headers(env))

    def _judge_directory(self, tx: Connection, states: AggregateStates, event: Event, policy, department,
                         at: int) -> dict:
        """A change of the directory by the platform administrator: in force from its receipt,
        for this batch's later events too."""
        env = event.envelope
        known = states.get(dict, env.aggregate_type, env.aggregate_id)
        jurisdiction.expect_next(policy, event, known and known["sequence"],
                                 creates=isinstance(event.payload, directory_events.DepartmentRegistered),
                                 exists_rule="department-exists", missing_rule="department-unknown")
        directory.decide(event, self.directory, self.policies, policy)
        states.put(env.aggregate_type, env.aggregate_id, {"sequence": env.sequence})
        directory_store.record(tx, self.directory, event, at)
        # Read again before the next batch: should this one be rolled back, memory must not
        # keep what the database does not.
        self._reload_at = 0.0
        return {}

    @staticmethod
    def _judge_once(rules):
        """An aggregate of one event, recorded once (a dismissal, an incident report): its
        rules see only whether it was recorded before."""
        def judge(tx: Connection, states: AggregateStates, event: Event, policy, department, at: int) -> dict:
            env = event.envelope
            known = states.get(dict, env.aggregate_type, env.aggregate_id)
            rules.decide(event, known and known["sequence"], policy)
            states.put(env.aggregate_type, env.aggregate_id, {"sequence": env.sequence})
            return {}
        return judge

    def _judge_with(self, rules):
        """The smaller aggregates (entrustments, requests outside the catalog, conflicts, system
        projects, open-data applications), each decided by its rule module over its state and
        what it may consult (processors/rules/consult.py); the module says what its decision
        established on the accepted event (the party that must act)."""
        def judge(tx: Connection, states: AggregateStates, event: Event, policy, department, at: int) -> dict:
            env = event.envelope
            ctx = Consult(policy, department, local_day(env.recorded_at, policy.timezone),
                          lambda d: self.directory.department(d, at),
                          lambda e: states.get(catalog.EntryState, catalog_events.AGGREGATE, e))
            new_state = rules.decide(states.get(rules.STATE, env.aggregate_type, env.aggregate_id), event, ctx)
            states.put(env.aggregate_type, env.aggregate_id, new_state)
            return rules.established(new_state)
        return judge

    def _judge_entry(self, tx: Connection, states: AggregateStates, event: Event, policy, department,
                     at: int) -> dict:
        try:
            with tx.begin_nested():  # item sources a rejected decision must not leave
                return self._decide_entry(tx, states, event, policy, department)
        except IntegrityError as exc:
            # Another worker claimed a data item between our read and our write: the batch is
            # decided again, now seeing the claim.
            raise Retry(str(exc)) from exc

    def _decide_entry(self, tx: Connection, states: AggregateStates, event: Event, policy, department) -> dict:
        env = event.envelope
        state = states.get(catalog.EntryState, env.aggregate_type, env.aggregate_id)
        state = self._with_obligations(tx, state, event)
        if state is not None:
            # An entry is judged under its own jurisdiction's profile, whoever acts on it.
            policy = self.policies.policy(state.policy_id) or policy
        ctx = catalog.Context(env.aggregate_id, policy, department, self._sources(tx, event, state),
                              env.recorded_at)
        _accept_or_raise(catalog.decide(state, event, ctx))
        new_state = catalog.evolve(state, event)
        states.put(env.aggregate_type, new_state.entry_id, self._set_obligations_aside(tx, new_state))
        self._save_sources(tx, new_state, policy.jurisdiction)
        return dict(provider=new_state.provider, policy_id=policy.id)

    def _with_obligations(self, tx: Connection, state: catalog.EntryState | None,
                          event: Event) -> catalog.EntryState | None:
        """The state with the obligations the event concerns, read from beside it. A state
        stored before obligations moved out still carries them: they move out now."""
        if state is None:
            return None
        state = self._set_obligations_aside(tx, state)
        named, every_open = catalog.obligations_concerned(state, event)
        if not named and not every_open:
            return state
        rows = store.obligations
        wanted = rows.c.obligation_id.in_(named)
        q = select(rows.c.state).where(rows.c.entry_id == state.entry_id,
                                       (rows.c.open.is_(True) | wanted) if every_open else wanted)
        return replace(state, obligations=tuple(state_of(catalog.Obligation, text) for text in tx.scalars(q)))

    def _set_obligations_aside(self, tx: Connection, state: catalog.EntryState) -> catalog.EntryState:
        """Write the state's obligations beside it; the state to store is the rest."""
        if not state.obligations:
            return state
        rows = store.obligations
        tx.execute(delete(rows).where(rows.c.entry_id == state.entry_id,
                                      rows.c.obligation_id.in_([o.obligation_id for o in state.obligations])))
        tx.execute(insert(rows), [dict(entry_id=state.entry_id, obligation_id=o.obligation_id, open=o.open,
                                       state=state_text(o)) for o in state.obligations])
        return replace(state, obligations=())

    def _judge_access(self, tx: Connection, states: AggregateStates, event: Event, policy, department,
                      at: int) -> dict:
        """An access is a fact to keep whatever it breaks (事中留痕): only its form and identity
        are checked here; the grant keeper compares it with the grant afterwards. A correction
        comes from the department that recorded the access, after it."""
        env, p = event.envelope, event.payload
        known = states.get(dict, env.aggregate_type, env.aggregate_id)
        if isinstance(p, sharing_events.UsageCorrected):
            jurisdiction.expect_next(policy, event, known and known.get("sequence", 1), creates=False,
                                     exists_rule="access-must-exist", missing_rule="access-must-exist")
            if known.get("department") not in (None, env.actor.department):
                raise broken(policy, "actor-not-permitted",
                             f"Only {known['department']}, which recorded {env.aggregate_id}, corrects its use.")
            states.put(env.aggregate_type, env.aggregate_id, {**known, "sequence": env.sequence})
            return {}
        jurisdiction.expect_next(policy, event, 1 if known else None, creates=True,
                                 exists_rule="access-already-recorded", missing_rule="access-already-recorded")
        _access_stated(policy, p)
        states.put(env.aggregate_type, env.aggregate_id, {
            "access_id": env.aggregate_id, "department": env.actor.department, "sequence": 1})
        return {}

    def _judge_on_entry(self, rules, state_kind: type):
        """Objections and share requests are decided against the catalog entry they name, each
        by its rule module, which says what its decision needs and what it established."""
        def judge(tx: Connection, states: AggregateStates, event: Event, policy, department, at: int) -> dict:
            env = event.envelope
            state = states.get(state_kind, env.aggregate_type, env.aggregate_id)
            # An event for an objection or request that does not exist names no entry: decide rejects it.
            entry_id = state.entry_id if state else getattr(event.payload, "entry_id", None)
            entry = entry_id and states.get(catalog.EntryState, catalog_events.AGGREGATE, entry_id)
            ctx = rules.context(policy, department, entry, self.policies, env.recorded_at)
            _accept_or_raise(rules.decide(state, event, ctx))
            new_state = rules.evolve(state, event, ctx)
            states.put(env.aggregate_type, env.aggregate_id, new_state)
            return rules.established(new_state)
        return judge

    def _sources(self, tx: Connection, event: Event, state: catalog.EntryState | None) -> dict[str, str]:
        codes = set(getattr(getattr(event.payload, "attributes", None), "item_codes", ()))
        if state is not None and state.pending is not None:
            codes |= set(state.pending.item_codes)
        policy = self.policies.policy(event.envelope.policy_id)
        if not codes or policy is None:
            return {}
        rows = tx.execute(select(store.item_sources).where(
            store.item_sources.c.jurisdiction == policy.jurisdiction,
            store.item_sources.c.code.in_(sorted(codes))))
        return {r.code: r.entry_id for r in rows}

    def _save_sources(self, tx: Connection, state: catalog.EntryState, jurisdiction_id: str) -> None:
        tx.execute(delete(store.item_sources).where(store.item_sources.c.entry_id == state.entry_id))
        codes = catalog.active_item_codes(state)
        if codes:
            tx.execute(insert(store.item_sources), [
                dict(jurisdiction=jurisdiction_id, code=c, entry_id=state.entry_id) for c in codes])

    def _rejection(self, event: Event, rejected: Rejected, received: datetime,
                   signer: directory.Key | None) -> Outgoing:
        env = event.envelope
        log.info("event.rejected", event_id=str(env.event_id), type=env.event_type,
                 rule=rejected.rule, article=rejected.article,
                 signed_by=signer and signer.department)
        payload = EventRejected(
            rejected_event_id=env.event_id, rejected_event_type=env.event_type,
            rejected_aggregate_type=env.aggregate_type,
            # Cut to what the tables hold, and kept printable: an id out of bounds (too long, a
            # NUL) is itself the reason for refusal, and the refusal must still be recorded.
            rejected_aggregate_id=bounds.printable(env.aggregate_id),
            rule=rejected.rule, article=rejected.article, message=rejected.message[:bounds.TEXT_MAX],
            # Who tried, as the refused envelope names them: the refusal's own actor is VALIDATOR.
            attempted_by=attempter(env.actor),
            # The key it came signed with, if any (a refused signature names the key it claims).
            attempted_key_id=env.signing_key and bounds.printable(env.signing_key))
        policy_id = env.policy_id if self.policies.policy(env.policy_id) else self.policies.baseline.id
        # Keyed by the refused event's aggregate, so that it stays in order with its events.
        # Listed under the department whose registered key signed the refused event (its
        # `provider`: projections/sealed.py), the department the event named beside it. Unproven
        # (no signature verified), it names none and is listed under the department named:
        # nothing proves another tried, and that department's own unsigned or mis-signed
        # submissions are the usual cause, which its integrators must see.
        return self.outbox.event(payload, aggregate_id=str(env.event_id), sequence=1, at=received,
                                 event_id=uuid.uuid5(OUTPUT_NAMESPACE, f"rejected:{env.event_id}"),
                                 policy_id=policy_id, cause=env, key=env.aggregate_id,
                                 provider=signer.department if signer else None)

    def _dead_letter(self, message: Incoming, reason: str) -> Outgoing:
        log.warning("event.dead_lettered", topic=message.topic, offset=message.offset, reason=reason)
        source = f"{message.topic}/{message.partition}/{message.offset}"
        digest = hashlib.sha256(message.value or b"").hexdigest()
        dlq_id = uuid.uuid5(OUTPUT_NAMESPACE, f"dead:{source}:{digest}")
        value = message.value or b""
        if len(value) > bounds.PAYLOAD_MAX_BYTES:
            # Kept whole it would not fit the dead-letter topic: its digest and size stand for it.
            reason += f" (value of {len(value)} bytes not kept; sha256 {digest})"
            value = b""
        extra = [(deadletter.REASON, reason.encode()), (deadletter.SOURCE, source.encode()),
                 (deadletter.ID, str(dlq_id).encode())]
        return Outgoing(self.topics.dead_letters, (message.key or b"")[:bounds.SHORT_MAX * 4], value,
                        list(message.headers) + extra)


def _of_directory(event: Event | DecodeError) -> bool:
    return isinstance(event, Event) and event.envelope.aggregate_type == directory_events.AGGREGATE


def _out_of_bounds(policies: Policies, batch: list[tuple[Incoming, Event | DecodeError]]
                   ) -> dict[int, Rejected]:
    """The refusal of each event of the batch out of bounds, by the event's id()."""
    found = {}
    for message, event in batch:
        if isinstance(event, Event):
            try:
                _within_bounds(policies, event, message.value or b"")
            except RuleBroken as stop:
                found[id(event)] = stop.rejected
    return found


def _within_bounds(policies: Policies, event: Event, value: bytes) -> None:
    """Refuse what would not fit the tables or the broker (events/bounds.py), before any rule."""
    baseline = policies.baseline
    if len(value) > bounds.PAYLOAD_MAX_BYTES:
        raise broken(baseline, "message-too-large",
                     f"The payload has {len(value)} bytes; at most {bounds.PAYLOAD_MAX_BYTES}.")
    found = list(bounds.problems(event.envelope, "envelope")) + list(bounds.problems(event.payload))
    if found:
        raise broken(baseline, "value-out-of-bounds", "; ".join(found[:5]) + ".")
    if not event.envelope.actor.person.strip():
        raise broken(baseline, "actor-person-required", "The acting person is blank.")


def _role_held(event: Event, department, policy) -> None:
    """A department acts only in a role the directory gives it (访问控制)."""
    role = event.envelope.actor.role.value
    if role not in department.roles:
        raise broken(policy, "role-not-held", f"{department.id} holds {', '.join(department.roles)}, "
                                              f"not {role}.")


def _signer(env: Envelope, value: bytes, found: directory.Directory, at: int) -> directory.Key | None:
    """The key, registered when the message was received, whose signature over this submission
    verifies: who sent it, proven, whoever the envelope names. A revoked key still proves who
    holds it (the refusal is then its department's to see: its key is in use). None: unsigned,
    an unknown key, or a signature that does not verify, which prove no one."""
    key = found.keys.get(env.signing_key) if env.signature is not None and env.signing_key else None
    if key is None or key.registered_at > at or not signing.verifies(env, value, key.public_raw):
        return None
    return key


def _signed(event: Event, department, found: directory.Directory, at: int, policy,
            signer: directory.Key | None) -> None:
    """The submission is the acting department's, proven by a key the directory held for it
    when the message was received (身份认证, events/signing.py); `signer`: the key that proved
    it signed (_signer), checked once per event."""
    env = event.envelope
    if env.signature is None or env.signing_key is None:
        raise broken(policy, "submission-unsigned",
                     "The event carries no signature (ce_govsignature and ce_govkeyid): sign it with a key "
                     f"registered for {department.id} (govshare submit --key).")
    key = found.keys.get(env.signing_key)
    if key is None or key.registered_at > at:
        raise broken(policy, "signing-key-unknown", f"No key {env.signing_key} is registered.")
    if key.department != department.id:
        raise broken(policy, "signing-key-not-of-department",
                     f"Key {env.signing_key} is {key.department}'s, not {department.id}'s.")
    if key.revoked_at is not None and key.revoked_at <= at:
        raise broken(policy, "signing-key-revoked", f"Key {env.signing_key} of {department.id} is revoked.")
    if signer is None:  # the key is the department's and in force: its signature did not verify
        raise broken(policy, "signature-invalid",
                     f"The signature is not {department.id}'s key {env.signing_key} over this event.")


def _access_stated(policy, p: sharing_events.DataAccessed) -> None:
    """事中留痕: a trace that cannot be compared with its grant traces nothing."""
    missing = [name for name in ("entry_id", "purpose", "scenario", "method") if not getattr(p, name)]
    if not p.items:
        missing.append("items")
    if missing:
        raise broken(policy, "access-details-required", f"The access does not state its {', '.join(missing)}.")


def _publishable(event: Event, policy) -> None:
    """The first gate of who may act: the roles the event type's registration names (the rules
    then say which department of that role). What only govshare emits no one may publish."""
    env = event.envelope
    senders = kind_of(env.event_type).senders
    if not senders:
        raise broken(policy, "event-type-not-publishable",
                     f"{env.event_type} is emitted by govshare itself; no department publishes it.")
    if env.actor.role not in senders:
        raise broken(policy, "actor-not-permitted",
                     f"{env.actor.department} acting as {env.actor.role.value} may not publish "
                     f"{env.event_type}: only {' or '.join(r.value for r in senders)} may.")


def _keys(events: list[Event]) -> set[tuple[str, str]]:
    """The aggregates a batch will read: each event's own, and the entries a new request, an
    objection or a conflict names."""
    keys = set()
    for e in events:
        keys.add((e.envelope.aggregate_type, e.envelope.aggregate_id))
        if e.envelope.aggregate_type == sharing_events.ACCESS:
            continue
        for named in (getattr(e.payload, "entry_id", None), getattr(e.payload, "other_entry_id", None)):
            if named:
                keys.add((catalog_events.AGGREGATE, named))
    return keys


def _accept_or_raise(verdict) -> None:
    if isinstance(verdict, Rejected):
        raise RuleBroken(verdict)
