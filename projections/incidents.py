"""The read model of security incidents (events/incident.py), one row per report."""
from __future__ import annotations

import json
from functools import singledispatch

from sqlalchemy import Connection, insert

from events import incident as ev
from events.envelope import Envelope
from projections.tables import incidents


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an incident (projections/apply.py hands every event to each read model)."""


@apply.register
def _(p: ev.SecurityIncidentReported, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(incidents), dict(
        incident_id=env.aggregate_id, department=env.actor.department, policy_id=env.policy_id,
        description=p.description, entries=json.dumps(list(p.entries), ensure_ascii=False),
        remedies=p.remedies, users_informed=p.users_informed, reported_to=p.reported_to,
        reported_at=env.recorded_at))
