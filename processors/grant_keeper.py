"""Grants and the use of shared data: opens a grant when a request is granted, expires it at
the end of its share period, and checks every recorded access against its grant (事中留痕).

Like the deadline engine, its state is in the processor database with its consumed positions
and outbox in the same transaction; every event it emits has a deterministic id.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from functools import singledispatchmethod

import structlog
from sqlalchemy import Connection, Engine, delete, insert, select, update

from events import catalog as cat
from events import entrustment as ent
from events import sharing as sh
from events.codec import Event, decode_message, encode_payload, to_headers
from events.envelope import Envelope
from audit.provenance import StageKeys
from events.publisher import Outgoing, Publisher
from events.topics import Topics
from processors import store
from processors.stage import Emitted, EventConsumer
from runtime.outbox import Staged
from processors.profiles import Policies, Policy
from processors.rules.working_days import end_of_day, local_day
from runtime import store as runtime_store

log = structlog.get_logger("govshare.grants")

NAMESPACE = uuid.UUID("3b7e1d2c-8f4a-4c6b-a9e0-5d2f7c1b8e43")


def grant_id(request_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"grant:{request_id}"))


class GrantKeeper(EventConsumer):
    name = "grants"
    person = "grant-keeper"

    def __init__(self, engine: Engine, policies: Policies, topics: Topics, publisher: Publisher,
                 access_wait: timedelta = timedelta(seconds=60), *, keys: StageKeys):
        """`access_wait`: the longest an access whose request is not decided yet waits for the
        decision before it is judged as it stands (see `_check_use`)."""
        super().__init__(engine, publisher, keys, topics)
        self.policies, self.access_wait = policies, access_wait
        self._known: dict[str, object] = {}  # grant rows read for the batch at hand

    def apply(self, tx: Connection, batch) -> Staged:
        """As every event consumer, with the grants the batch's accesses name read in one query
        (nine events in ten are accesses: one select each was most of this stage's time)."""
        named = {e.payload.grant_id for _, e in batch
                 if isinstance(e.payload, sh.DataAccessed) and e.payload.grant_id}
        self._known = {r.grant_id: r for r in tx.execute(
            select(store.grants).where(store.grants.c.grant_id.in_(sorted(named))))} if named else {}
        try:
            return super().apply(tx, batch)
        finally:
            self._known = {}

    def _grant(self, tx: Connection, grant: str):
        """A grant's row, as read for the batch unless the batch changed it since."""
        if grant in self._known:
            return self._known[grant]
        row = tx.execute(select(store.grants).where(store.grants.c.grant_id == grant)).first()
        if row is not None:  # kept till the batch changes it (every change pops it)
            self._known[grant] = row
        return row

    @singledispatchmethod
    def on(self, payload: object, tx: Connection, event: Event) -> Emitted:
        return []

    @on.register
    def _(self, p: sh.RequestSubmitted, tx: Connection, event: Event) -> Emitted:
        self._remember(tx, event, p)
        return self._open(tx, event.envelope, automatic=True) if event.envelope.route == "auto" else []

    @on.register
    def _(self, p: sh.RequestApproved, tx: Connection, event: Event) -> Emitted:
        return self._open(tx, event.envelope)

    @on.register(sh.DisputeDecided)
    @on.register(sh.LeadershipDecided)
    def _(self, p, tx: Connection, event: Event) -> Emitted:
        # The authority's decision of a dispute, or the leadership group's of an escalated one:
        # a grant opens; a refusal upheld, or an escalation, leaves the request refused here.
        if p.outcome == "GRANT":
            return self._open(tx, event.envelope)
        return self._close(tx, event.envelope.aggregate_id, "refused")

    @on.register
    def _(self, p: sh.CrossBorderAssessed, tx: Connection, event: Event) -> Emitted:
        """Uses abroad of this grant are assessed from now on (Ningbo Art. 32)."""
        row = self._grant(tx, grant_id(event.envelope.aggregate_id))
        if row is not None:
            spec = json.loads(row.spec) | {"cross_border": p.reference}
            tx.execute(update(store.grants).where(store.grants.c.grant_id == row.grant_id).values(
                spec=json.dumps(spec, ensure_ascii=False)))
            self._known.pop(row.grant_id, None)
        return []

    @on.register
    def _(self, p: sh.RequestRejected, tx: Connection, event: Event) -> Emitted:
        return self._close(tx, event.envelope.aggregate_id, "refused")

    @on.register
    def _(self, p: sh.GrantRevoked, tx: Connection, event: Event) -> Emitted:
        return self._close(tx, event.envelope.aggregate_id, "revoked")

    @on.register
    def _(self, p: ent.EntrustmentApproved, tx: Connection, event: Event) -> Emitted:
        tx.execute(insert(store.entrustments), dict(
            entrustment_id=event.envelope.aggregate_id, department=p.department, contractor=p.contractor.strip(),
            valid_until=p.valid_until.isoformat()))
        return []

    @on.register
    def _(self, p: sh.DataAccessed, tx: Connection, event: Event) -> Emitted:
        return self._check_use(tx, event, p)

    @on.register
    def _(self, p: cat.EntryTakenDown, tx: Connection, event: Event) -> Emitted:
        return self._withdraw(tx, event.envelope, p.reason)

    @on.register
    def _(self, p: cat.EntryRevised, tx: Connection, event: Event) -> Emitted:
        return self._narrow(tx, event.envelope, p.attributes.item_codes)

    @on.register
    def _(self, p: cat.RevisionSubmitted, tx: Connection, event: Event) -> Emitted:
        self._remember_revision(tx, event.envelope, p)
        return []

    @on.register
    def _(self, p: cat.RevisionApproved, tx: Connection, event: Event) -> Emitted:
        return self._approve_revision(tx, event.envelope, p.revision_id)

    def _remember(self, tx: Connection, event: Event, p: sh.RequestSubmitted) -> None:
        env = event.envelope
        policy = self.policies.policy(env.policy_id)
        tx.execute(insert(store.grants), dict(
            grant_id=grant_id(env.aggregate_id), request_id=env.aggregate_id, entry_id=p.entry_id,
            grantee=env.actor.department, policy_id=env.policy_id, status="requested",
            expires_at=None, sequence=0, spec=json.dumps({
                "items": list(p.items), "purpose": p.purpose, "scenario": p.scenario,
                "method": p.method.value, "desensitized": p.desensitized,
                "valid_until": end_of_day(p.period_end, policy.timezone).isoformat()},
                ensure_ascii=False)))

    def _open(self, tx: Connection, env: Envelope, automatic: bool = False) -> Emitted:
        row = tx.execute(select(store.grants).where(
            store.grants.c.request_id == env.aggregate_id)).first()
        if row is None or row.status not in ("requested", "refused"):
            return []
        spec = json.loads(row.spec)
        valid_until = datetime.fromisoformat(spec["valid_until"])
        opened = sh.GrantOpened(
            request_id=row.request_id, entry_id=row.entry_id, grantee=row.grantee,
            items=tuple(spec["items"]), purpose=spec["purpose"], scenario=spec["scenario"],
            method=spec["method"], valid_until=valid_until, desensitized=spec["desensitized"],
            automatic=automatic)
        # When it was decided, on the same clock as an access's occurred_at (the departments'
        # own), so that an access dated before it is outside it whatever the validator's delay.
        spec["opened_at"] = env.occurred_at.isoformat()
        tx.execute(update(store.grants).where(store.grants.c.grant_id == row.grant_id).values(
            status="open", expires_at=store.micros(valid_until), sequence=1,
            spec=json.dumps(spec, ensure_ascii=False)))
        self._known.pop(row.grant_id, None)
        log.info("grant.opened", grant=row.grant_id, request=row.request_id, grantee=row.grantee)
        emitted = [self._emit(tx, sh.GRANT, row.grant_id, 1, opened, env.recorded_at, env, row.policy_id)]
        return emitted + self._release(tx, [row.grant_id])

    def _close(self, tx: Connection, request_id: str, status: str) -> Emitted:
        """The request was refused, or its grant revoked: accesses waiting on it are judged."""
        values = dict(status=status, expires_at=None)
        self._known.pop(grant_id(request_id), None)
        if status == "refused":  # a refusal leaves an open grant alone (a dispute may follow one)
            done = tx.execute(update(store.grants).where(
                store.grants.c.request_id == request_id, store.grants.c.status == "requested")
                .values(**values))
        else:
            done = tx.execute(update(store.grants).where(store.grants.c.request_id == request_id)
                              .values(**values))
        return self._release(tx, [grant_id(request_id)]) if done.rowcount else []

    def _check_use(self, tx: Connection, event: Event, p: sh.DataAccessed) -> Emitted:
        """Judge an access only against what was decided before it: an access naming a grant
        whose request is not decided yet (its approval may still be on its way, on another
        topic) waits for the decision, at most `access_wait`, in proc_waiting_accesses."""
        env = event.envelope
        row = self._grant(tx, p.grant_id) if p.grant_id else None
        if p.grant_id and (row is None or row.status == "requested"):
            tx.execute(insert(store.waiting_accesses), dict(
                access_id=env.aggregate_id, grant_id=p.grant_id,
                since=store.micros(env.recorded_at),
                headers=runtime_store.headers_to_text(to_headers(env)), value=encode_payload(p)))
            # Routine (an access read before its approval, topics being read in no fixed
            # order), and one in ten accesses in a busy hour: not an operator's line.
            log.debug("usage.waiting", access=env.aggregate_id, grant=p.grant_id)
            return []
        return self._judge_use(tx, event, p, row)

    def _judge_use(self, tx: Connection, event: Event, p: sh.DataAccessed, row) -> Emitted:
        env = event.envelope
        violations = []
        if row is None or row.status in ("requested", "refused"):
            violations.append("no-grant")
        else:
            spec = json.loads(row.spec)
            if row.status == "expired" or env.occurred_at >= datetime.fromisoformat(spec["valid_until"]):
                violations.append("grant-expired")
            if row.status == "revoked":
                violations.append("grant-revoked")
            if row.status == "withdrawn":
                violations.append("grant-withdrawn")
            entrusted = p.recipient != row.grantee and self._entrusted(tx, row.grantee, p.recipient, env)
            violations += _outside(p, env, row, spec, entrusted)
        if not violations:
            return []
        flagged = sh.UsageViolationFlagged(
            access_id=env.aggregate_id, grant_id=p.grant_id, department=env.actor.department,
            violations=tuple(violations), article=_articles(self.policies.policy(env.policy_id), violations))
        log.warning("usage.violation", access=env.aggregate_id, violations=violations)
        return [self._emit(tx, sh.SUPERVISION, env.aggregate_id, 1, flagged, env.recorded_at, env,
                           env.policy_id)]

    def _entrusted(self, tx: Connection, grantee: str, recipient: str, env: Envelope) -> bool:
        """Whether the grantee's data authority approved `recipient` as its contractor, on the day
        of the use (Hebei: 委托第三方…应当经过严格的批准程序)."""
        day = local_day(env.occurred_at, self.policies.policy(env.policy_id).timezone).isoformat()
        return tx.execute(select(store.entrustments.c.entrustment_id).where(
            store.entrustments.c.department == grantee, store.entrustments.c.contractor == recipient.strip(),
            store.entrustments.c.valid_until >= day).limit(1)).first() is not None

    # -- the entry changed under its grants (rule grant-follows-entry) ----------------------

    def _withdraw(self, tx: Connection, env: Envelope, reason: str) -> Emitted:
        """The entry was taken down: its open grants close, since nothing is left to share."""
        emitted: Emitted = []
        for row in self._open_on(tx, env.aggregate_id):
            tx.execute(update(store.grants).where(store.grants.c.grant_id == row.grant_id).values(
                status="withdrawn", expires_at=None, sequence=row.sequence + 1))
            log.info("grant.withdrawn", grant=row.grant_id, entry=env.aggregate_id)
            emitted.append(self._emit(tx, sh.GRANT, row.grant_id, row.sequence + 1,
                                      sh.GrantWithdrawn(reason=reason), env.recorded_at, env, row.policy_id))
        return emitted

    def _narrow(self, tx: Connection, env: Envelope, codes: frozenset[str]) -> Emitted:
        """A revision took items away: grants keep the items the entry still has; a grant
        left with none closes as if the entry were taken down."""
        emitted: Emitted = []
        for row in self._open_on(tx, env.aggregate_id):
            spec = json.loads(row.spec)
            kept = tuple(i for i in spec["items"] if i in codes)
            removed = tuple(i for i in spec["items"] if i not in codes)
            if not removed:
                continue
            status = "open" if kept else "withdrawn"
            payload = (sh.GrantNarrowed(items=kept, removed=removed) if kept else
                       sh.GrantWithdrawn(reason=f"the revision removed every granted item: {', '.join(removed)}"))
            spec["items"] = list(kept)
            tx.execute(update(store.grants).where(store.grants.c.grant_id == row.grant_id).values(
                status=status, sequence=row.sequence + 1, spec=json.dumps(spec, ensure_ascii=False),
                **({} if kept else {"expires_at": None})))
            log.info("grant.narrowed", grant=row.grant_id, removed=removed)
            emitted.append(self._emit(tx, sh.GRANT, row.grant_id, row.sequence + 1, payload,
                                      env.recorded_at, env, row.policy_id))
        return emitted

    def _remember_revision(self, tx: Connection, env: Envelope, p: cat.RevisionSubmitted) -> None:
        """A reviewed revision changes the entry only when approved; its items wait till then."""
        tx.execute(delete(store.grant_revisions).where(store.grant_revisions.c.revision_id == p.revision_id))
        tx.execute(insert(store.grant_revisions), dict(
            revision_id=p.revision_id, entry_id=env.aggregate_id,
            item_codes=json.dumps(sorted(p.attributes.item_codes))))

    def _approve_revision(self, tx: Connection, env: Envelope, revision_id: str) -> Emitted:
        row = tx.execute(select(store.grant_revisions).where(
            store.grant_revisions.c.revision_id == revision_id)).first()
        if row is None:
            return []
        tx.execute(delete(store.grant_revisions).where(store.grant_revisions.c.revision_id == revision_id))
        return self._narrow(tx, env, frozenset(json.loads(row.item_codes)))

    def _open_on(self, tx: Connection, entry_id: str) -> list:
        rows = tx.execute(select(store.grants).where(
            store.grants.c.entry_id == entry_id, store.grants.c.status == "open")).all()
        for row in rows:
            self._known.pop(row.grant_id, None)
        return rows

    def _release(self, tx: Connection, grant_ids: list[str] | None, *, older_than: int | None = None) -> Emitted:
        """Judge the accesses waiting on these grants (or those waiting longer than allowed)."""
        q = select(store.waiting_accesses)
        if grant_ids is not None:
            q = q.where(store.waiting_accesses.c.grant_id.in_(grant_ids))
        if older_than is not None:
            q = q.where(store.waiting_accesses.c.since <= older_than)
        waiting = tx.execute(q.order_by(store.waiting_accesses.c.since)).all()
        emitted: Emitted = []
        # The grants they wait on, read once here (a grant just opened is read by many accesses).
        named = sorted({w.grant_id for w in waiting})
        grants = {r.grant_id: r for r in tx.execute(
            select(store.grants).where(store.grants.c.grant_id.in_(named)))} if named else {}
        for w in waiting:
            event = decode_message(runtime_store.headers_from_text(w.headers), w.value)
            emitted += self._judge_use(tx, event, event.payload, grants.get(w.grant_id))
        if waiting:
            tx.execute(delete(store.waiting_accesses).where(
                store.waiting_accesses.c.access_id.in_([w.access_id for w in waiting])))
        return emitted

    def tick(self, now: datetime, batch: int = 1000) -> int:
        """Expire every open grant whose share period ended by `now`, and judge the accesses
        that waited longer than `access_wait` for their request's decision."""
        with self.engine.begin() as tx:
            overdue = store.micros(now - self.access_wait)
            staged = self.outbox.stage_many(tx, self._release(tx, None, older_than=overdue))
        self.outbox.publish(staged)
        total = len(staged)
        while True:
            with self.engine.begin() as tx:
                rows = tx.execute(select(store.grants).where(
                    store.grants.c.expires_at <= store.micros(now)).order_by(store.grants.c.expires_at)
                    .limit(batch).with_for_update(skip_locked=True)).all()
                emitted: Emitted = []
                for row in rows:
                    valid_until = datetime.fromisoformat(json.loads(row.spec)["valid_until"])
                    done = tx.execute(update(store.grants).where(
                        store.grants.c.grant_id == row.grant_id, store.grants.c.status == "open")
                        .values(status="expired", expires_at=None, sequence=row.sequence + 1))
                    if done.rowcount == 1:
                        emitted.append(self._emit(tx, sh.GRANT, row.grant_id, row.sequence + 1,
                                                  sh.GrantExpired(expired_at=valid_until),
                                                  valid_until, None, row.policy_id))
                staged = self.outbox.stage_many(tx, emitted)
            self.outbox.publish(staged)
            total += len(staged)
            if len(rows) < batch:
                return total

    def _emit(self, tx: Connection, aggregate: str, aggregate_id: str, sequence: int, payload,
              at: datetime, cause: Envelope | None, policy_id: str) -> tuple[str, Outgoing]:
        """An event the grant keeper decided, with the id of the input it answers."""
        event_id = uuid.uuid5(NAMESPACE, f"{aggregate}:{aggregate_id}:{sequence}")
        return f"grants:{event_id}", self.outbox.event(payload, aggregate_id=aggregate_id, sequence=sequence,
                                                        at=at, event_id=event_id, policy_id=policy_id, cause=cause)


def _articles(policy: Policy, violations: list[str]) -> str:
    """The articles the findings break, each once, from the profile: the rule each finding
    breaks is named here; the findings not named break usage-bound-to-grant."""
    scenario = policy.rule("usage-bound-to-scenario").article
    cited = {"other-entry": scenario, "other-method": scenario, "other-scenario": scenario,
             "before-grant": policy.rule("usage-before-grant").article,
             "grant-withdrawn": policy.rule("grant-follows-entry").article,
             "cross-border-unassessed": policy.rule("cross-border-assessment").article}
    grant = policy.rule("usage-bound-to-grant").article
    return "; ".join(dict.fromkeys(cited.get(v, grant) for v in violations))


def _outside(p: sh.DataAccessed, env: Envelope, row, spec: dict, entrusted: bool = False) -> list[str]:
    """What of the access lies outside its grant: the entry, items, purpose, method and
    scenario, the time, and who used it and for whom (事中留痕): the grantee, or a contractor
    it was approved to entrust (`entrusted`), else a third party."""
    checks = (
        ("other-entry", p.entry_id != row.entry_id),
        ("items-outside-grant", bool(set(p.items) - set(spec["items"]))),
        ("other-purpose", p.purpose != spec["purpose"]),
        ("other-method", p.method is None or p.method.value != spec["method"]),
        ("other-scenario", p.scenario != spec["scenario"]),
        # Grants opened before opened_at was kept have no such bound.
        ("before-grant", "opened_at" in spec
         and env.occurred_at < datetime.fromisoformat(spec["opened_at"])),
        ("not-the-grantee", env.actor.department != row.grantee),
        ("third-party", p.recipient != row.grantee and not entrusted),
        # 公共数据不得跨境流通 without a security assessment on record (Ningbo Art. 32).
        ("cross-border-unassessed", p.abroad and not spec.get("cross_border")),
    )
    return [name for name, found in checks if found]
