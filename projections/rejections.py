"""The publisher-facing read model of rejected events and dead letters."""
from __future__ import annotations

from functools import singledispatch

from sqlalchemy import Connection, insert

from events.codec import DeadLetter
from events.envelope import Envelope
from events.rejection import EventRejected
from projections import sealed
from projections.tables import dead_letters, rejections


@singledispatch
def apply(payload: object, env: Envelope, tx: Connection) -> None:
    """Not an event this read model keeps (projections/apply.py hands every event to each)."""


@apply.register
def _(payload: EventRejected, env: Envelope, tx: Connection) -> None:
    tx.execute(insert(rejections), sealed.rejection_columns(payload, env))


def apply_dead_letter(letter: DeadLetter, record: bytes, recorded_at, tx: Connection) -> None:
    tx.execute(insert(dead_letters), sealed.dead_letter_columns(letter) | dict(recorded_at=recorded_at, record=record))

