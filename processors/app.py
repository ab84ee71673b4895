"""faust wiring for the validator: one agent over the inboxes, the rules live elsewhere."""
from __future__ import annotations

import asyncio
from typing import Callable

import faust
import structlog
from sqlalchemy.exc import DBAPIError

from events.errors import PublishError
from events.sharing import ACCESS, REQUEST
from events.topics import AGGREGATE_TYPES, Topics
from processors.clock import Clock
from processors.grants import GrantKeeper
from processors.messages import Incoming, timestamp_of
from processors.outbox import Outbox
from processors.scheduler import Scheduler, StaleDeadline
from processors.validator import Validator

log = structlog.get_logger("govshare.validator")


def build_app(*, app_id: str, bootstrap: str, topics: Topics, validator: Validator,
              scheduler: Scheduler, grants: GrantKeeper, clock: Clock, tick_seconds: float,
              session_timeout: float, partitions: int, replication: int,
              batch: int = 500, batch_window: float = 0.05) -> faust.App:
    """`batch_window`: how long an agent gathers a batch. Each batch costs a transaction, a
    position write and a publish whatever its size; a longer window amortises that under a
    trickle, at the price of latency."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",  # the validator's state lives in its database, see processors/store.py
        web_enabled=False,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=max(session_timeout / 6, 0.5),
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_partitions=partitions,
        topic_replication_factor=replication,
        producer_acks=-1,
    )
    inbox = app.topic(*topics.inboxes(), key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")

    @app.agent(inbox)
    async def validate(stream):
        # Batches: one transaction and one acknowledged publish for many messages.
        async for events in stream.take_events(batch, within=batch_window):
            await _until_done(validator.process, validator.outbox,
                              [_incoming(e.message) for e in events])

    accepted = app.topic(*[topics.events(a) for a in AGGREGATE_TYPES], key_type=bytes,
                         value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(accepted)
    async def schedule(stream):
        async for events in stream.take_events(batch, within=batch_window):
            await _until_done(scheduler.handle, scheduler.outbox,
                              [_incoming(e.message) for e in events])

    sharing = app.topic(*[topics.events(a) for a in (REQUEST, ACCESS)], key_type=bytes,
                        value_type=bytes, key_serializer="raw", value_serializer="raw")

    @app.agent(sharing)
    async def keep_grants(stream):
        async for events in stream.take_events(batch, within=batch_window):
            await _until_done(grants.handle, grants.outbox, [_incoming(e.message) for e in events])

    @app.timer(interval=tick_seconds)
    async def fire_due_deadlines():
        # Every worker ticks; a deadline's or grant's database row makes one of them win.
        try:
            now = clock.now()
            await _until_done(lambda _: scheduler.tick(now), scheduler.outbox, [])
            await _until_done(lambda _: grants.tick(now), grants.outbox, [])
        except Exception:
            # A bad clock reading or a bug must not stop the timer: the next tick retries.
            log.exception("deadlines.tick_failed")

    return app


def _incoming(m) -> Incoming:
    headers = m.headers.items() if isinstance(m.headers, dict) else (m.headers or [])
    return Incoming(m.topic, m.partition, m.offset, timestamp_of(m.timestamp), m.key, m.value,
                    list(headers))


async def _until_done(step: Callable[[list[Incoming]], object], outbox: Outbox,
                      incoming: list[Incoming]) -> None:
    """Run a step over a batch, retrying while the broker or the database is unavailable.

    The next batch waits, so outputs keep their order; nothing is skipped.
    """
    delay = 0.5
    while True:
        try:
            step(incoming)
            return
        except PublishError as exc:
            # The decision is committed in the outbox: only its delivery is left to do.
            log.warning("validator.publish_failed", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            try:
                outbox.relay_unpublished()
                return
            except PublishError:
                pass
        except (DBAPIError, StaleDeadline) as exc:
            # The database is away, or another worker changed a deadline first: the batch
            # rolled back whole, so running it again is safe.
            log.warning("processor.retrying", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
