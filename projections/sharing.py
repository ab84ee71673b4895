"""Read models of sharing: requests with who acts next, grants, recorded accesses, problems."""
from __future__ import annotations

import json
from functools import singledispatch

from sqlalchemy import Connection, insert, select, update

from events import sharing as sh
from events import uncatalogued as unc
from events.envelope import Envelope
from projections.tables import (
    uncatalogued_requests,
    accesses,
    grants,
    problems,
    share_requests,
    supervision_actions,
    usage_violations,
)

LEADERSHIP_GROUP = "leadership group"


def _codes(items) -> str:
    return json.dumps(list(items), ensure_ascii=False)


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an event this read model keeps (projections/apply.py hands every event to each)."""


def _set(env: Envelope, tx: Connection, **values) -> None:
    tx.execute(update(share_requests).where(share_requests.c.request_id == env.aggregate_id)
               .values(**values))


def _authority(env: Envelope) -> str:
    return f"data authority ({env.policy_id})"


# Events of different aggregates arrive in no fixed order: a request and its grant converge to
# the same row whichever is projected first, and the provider is joined at query time.

@apply.register
def _(p: sh.RequestSubmitted, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(share_requests), dict(
        request_id=env.aggregate_id, entry_id=p.entry_id, requester=env.actor.department,
        policy_id=env.policy_id, path="desensitized" if p.desensitized else "requested",
        status="pending", next_actor=None, items=_codes(p.items), purpose=p.purpose,
        scenario=p.scenario, method=p.method.value, period_end=p.period_end.isoformat(),
        submitted_at=env.recorded_at))
    grant = tx.execute(select(grants.c.automatic).where(grants.c.request_id == env.aggregate_id)).first()
    if grant is not None:  # the grant's event was projected first
        _granted(env.aggregate_id, bool(grant.automatic), tx)


def _granted(request_id: str, automatic: bool, tx: Connection) -> None:
    key = share_requests.c.request_id == request_id
    # A revocation that was projected first stays: it came later in the domain.
    tx.execute(update(share_requests).where(key, share_requests.c.status != "revoked")
               .values(status="granted", next_actor=None))
    if automatic:
        tx.execute(update(share_requests).where(key).values(path="auto"))


def _reviewed(env: Envelope, tx: Connection, **values) -> None:
    """The authority or the provider acted: the request took the reviewed route."""
    _set(env, tx, **values)
    tx.execute(update(share_requests).where(share_requests.c.request_id == env.aggregate_id,
                                            share_requests.c.path == "requested")
               .values(path="conditional"))


@apply.register
def _(p: sh.ProviderConsulted, env: Envelope, tx: Connection) -> None:
    _reviewed(env, tx, next_actor="provider")


@apply.register
def _(p: sh.ProviderAnswered, env: Envelope, tx: Connection) -> None:
    _reviewed(env, tx, provider_answer="agrees" if p.agrees else "refuses",
              next_actor=_authority(env), reasons=p.reasons or None)


@apply.register
def _(p: sh.RequestApproved, env: Envelope, tx: Connection) -> None:
    _reviewed(env, tx, status="granted", next_actor=None, decided_at=env.recorded_at)


@apply.register
def _(p: sh.RequestRejected, env: Envelope, tx: Connection) -> None:
    _reviewed(env, tx, status="rejected", reasons=p.reasons, decided_at=env.recorded_at,
              next_actor="requester (may dispute)")


@apply.register
def _(p: sh.RequestDisputed, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="disputed", next_actor=_authority(env))


@apply.register
def _(p: sh.RequestWithdrawn, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="retracted", next_actor=None, reasons=p.reason or None, decided_at=env.recorded_at)


@apply.register
def _(p: sh.DisputeDecided, env: Envelope, tx: Connection) -> None:
    if p.outcome == sh.DisputeOutcome.GRANT:
        _set(env, tx, status="granted", next_actor=None, decided_at=env.recorded_at)
    elif p.outcome == sh.DisputeOutcome.UPHOLD_REFUSAL:
        _set(env, tx, status="refused", next_actor=None, reasons=p.reasons)
    else:
        _set(env, tx, status="escalated", next_actor=LEADERSHIP_GROUP, reasons=p.reasons)
        request = tx.execute(select(share_requests).where(
            share_requests.c.request_id == env.aggregate_id)).one()
        tx.execute(insert(problems), dict(
            request_id=env.aggregate_id, entry_id=request.entry_id, requester=request.requester,
            reasons=p.reasons, escalated_to=LEADERSHIP_GROUP, listed_at=env.recorded_at))


@apply.register
def _(p: sh.CrossBorderAssessed, env: Envelope, tx: Connection) -> None:
    _set(env, tx, cross_border_assessment=p.reference)


@apply.register
def _(p: sh.ExchangeAssessed, env: Envelope, tx: Connection) -> None:
    _set(env, tx, exchange_assessment=p.reference)


@apply.register
def _(p: sh.LeadershipDecided, env: Envelope, tx: Connection) -> None:
    granted = p.outcome == sh.LeadershipOutcome.GRANT
    _set(env, tx, status="granted" if granted else "refused", next_actor=None, reasons=p.reasons,
         decided_at=env.recorded_at)
    tx.execute(update(problems).where(problems.c.request_id == env.aggregate_id).values(
        outcome=p.outcome.value, decided_at=env.recorded_at))


@apply.register
def _(p: sh.GrantRevoked, env: Envelope, tx: Connection) -> None:
    _set(env, tx, status="revoked", reasons=p.reason)
    tx.execute(update(grants).where(grants.c.request_id == env.aggregate_id)
               .values(status="revoked", closed_at=env.recorded_at))


@apply.register
def _(p: sh.GrantOpened, env: Envelope, tx: Connection) -> None:
    # A revocation projected before this grant left its mark on the request row.
    revoked = tx.execute(select(share_requests.c.status).where(
        share_requests.c.request_id == p.request_id)).scalar() == "revoked"
    # The request row may not be here yet; then RequestSubmitted finds this grant instead.
    _granted(p.request_id, p.automatic, tx)
    tx.execute(insert(grants), dict(
        grant_id=env.aggregate_id, request_id=p.request_id, entry_id=p.entry_id, grantee=p.grantee,
        items=_codes(p.items), purpose=p.purpose, scenario=p.scenario, method=p.method.value,
        desensitized=int(p.desensitized), automatic=int(p.automatic), valid_until=p.valid_until,
        status="revoked" if revoked else "open",
        opened_at=env.recorded_at))


@apply.register
def _(p: sh.GrantExpired, env: Envelope, tx: Connection) -> None:
    tx.execute(update(grants).where(grants.c.grant_id == env.aggregate_id)
               .values(status="expired", closed_at=p.expired_at))


@apply.register
def _(p: sh.GrantWithdrawn, env: Envelope, tx: Connection) -> None:
    tx.execute(update(grants).where(grants.c.grant_id == env.aggregate_id)
               .values(status="withdrawn", closed_at=env.recorded_at))


@apply.register
def _(p: sh.GrantNarrowed, env: Envelope, tx: Connection) -> None:
    tx.execute(update(grants).where(grants.c.grant_id == env.aggregate_id).values(items=_codes(p.items)))


@apply.register
def _(p: sh.UsageCorrected, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(supervision_actions), dict(
        event_id=str(env.event_id), action="usage-corrected", party=env.actor.department,
        # A correction cites nothing itself; its measures stay in the event log.
        deadline_id=env.aggregate_id, article="", recorded_at=env.recorded_at))


@apply.register
def _(p: sh.DataAccessed, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(accesses), dict(
        access_id=env.aggregate_id, grant_id=p.grant_id, department=env.actor.department,
        entry_id=p.entry_id, items=_codes(p.items), purpose=p.purpose, recipient=p.recipient,
        person=p.person, method=p.method.value if p.method else None, scenario=p.scenario,
        occurred_at=env.occurred_at, abroad=p.abroad))


@apply.register
def _(p: sh.UsageViolationFlagged, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(usage_violations), dict(
        access_id=p.access_id, violations=_codes(p.violations), article=p.article,
        recorded_at=env.recorded_at))
    tx.execute(insert(supervision_actions), dict(
        event_id=str(env.event_id), action="usage-violation", party=p.department,
        deadline_id=p.access_id, article=p.article, recorded_at=env.recorded_at))


@apply.register
def _(p: unc.UncataloguedDataRequested, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(uncatalogued_requests), dict(
        request_id=env.aggregate_id, requester=env.actor.department, holder=p.holder, description=p.description,
        purpose=p.purpose, status="pending", requested_at=env.recorded_at))


@apply.register
def _(p: unc.UncataloguedRequestAnswered, env: Envelope, tx: Connection) -> None:
    tx.execute(update(uncatalogued_requests).where(uncatalogued_requests.c.request_id == env.aggregate_id).values(
        status="provided" if p.agrees else "refused", reasons=p.reasons, entry_id=p.entry_id,
        answered_at=env.recorded_at))
