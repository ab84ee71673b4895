"""The columns stored beside each trail record, derived from its sealed bytes in one place.

The projector writes them with these functions and `verify` rebuilds them from the record and
compares, so a column rewritten in the database (an actor, a time, a reason) is found: every
column a reader sees either comes from here or is the sealed record itself.
"""
from __future__ import annotations

import json

from events.codec import DeadLetter
from events.envelope import Envelope
from events.rejection import EventRejected


def event_columns(env: Envelope) -> dict:
    """The columns of an event_log row that restate its sealed envelope; `verify` rebuilds
    them from the record and compares, so a rewritten column cannot pass for the signed one."""
    return dict(
        event_id=str(env.event_id), event_type=env.event_type, aggregate_type=env.aggregate_type,
        aggregate_id=env.aggregate_id, sequence=env.sequence, occurred_at=env.occurred_at,
        recorded_at=env.recorded_at, actor_department=env.actor.department,
        actor_person=env.actor.person, actor_role=env.actor.role.value,
        policy_id=env.policy_id, correlation_id=str(env.correlation_id),
        causation_id=str(env.causation_id) if env.causation_id else None, source=env.source)


def rejection_columns(payload: EventRejected, env: Envelope) -> dict:
    """A rejection's row: every column comes from the sealed EventRejected. The attempting
    actor is the payload's, not the envelope's (the validator, which refused); its department
    is the one the refusal is listed under (`attempted_by`)."""
    tried = payload.attempted_by
    department, claimed = attempted_by(payload, env)
    return dict(
        event_id=str(env.event_id), rejected_event_id=str(payload.rejected_event_id),
        rejected_event_type=payload.rejected_event_type,
        aggregate_type=payload.rejected_aggregate_type, aggregate_id=payload.rejected_aggregate_id,
        rule=payload.rule, article=payload.article, message=payload.message,
        policy_id=env.policy_id, recorded_at=env.recorded_at,
        attempted_by_department=department,
        attempted_by_person=tried.person if tried else None,
        attempted_by_role=tried.role.value if tried else None,
        attempted_key_id=payload.attempted_key_id,
        claimed_department=claimed)


def attempted_by(payload: EventRejected, env: Envelope) -> tuple[str | None, str | None]:
    """Whom a refusal is listed under, and the department its refused event claimed where that
    was another: the department whose registered key signed the refused event (the validator
    names it as the refusal's `provider`, processors/validator.py), else, unproven, the one
    the event named. A forgery is thus its signer's to see, never the impersonated one's."""
    named = payload.attempted_by.department if payload.attempted_by else None
    signer = env.provider
    if signer is None or signer == named:
        return named, None
    return signer, named


def dead_letter_columns(letter: DeadLetter) -> dict:
    """The columns of a dead letter derived from its sealed form (all but when it arrived)."""
    headers = {k: (v or b"").decode("utf-8", "replace") for k, v in letter.headers}
    # The ce_id of bytes that are no event can be anything: kept printable and within its column.
    event_id = "".join(c for c in headers.get("ce_id", "") if c.isprintable())[:100] or None
    return dict(id=letter.id, source=letter.source, reason=letter.reason, event_id=event_id,
                value=letter.value, headers=json.dumps(headers, ensure_ascii=False))
