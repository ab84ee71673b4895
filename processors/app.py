"""faust wiring for the validator: one agent over the inboxes, the rules live elsewhere."""
from __future__ import annotations

import asyncio

import faust
import structlog
from sqlalchemy.exc import DBAPIError

from events.errors import PublishError
from events.topics import Topics
from processors.validator import Incoming, Validator, timestamp_of

log = structlog.get_logger("govshare.validator")


def build_app(*, app_id: str, bootstrap: str, topics: Topics, validator: Validator,
              session_timeout: float, partitions: int, replication: int,
              batch: int = 500) -> faust.App:
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
        async for events in stream.take_events(batch, within=0.05):
            await _until_done(validator, [_incoming(e.message) for e in events])

    return app


def _incoming(m) -> Incoming:
    headers = m.headers.items() if isinstance(m.headers, dict) else (m.headers or [])
    return Incoming(m.topic, m.partition, m.offset, timestamp_of(m.timestamp), m.key, m.value,
                    list(headers))


async def _until_done(validator: Validator, incoming: list[Incoming]) -> None:
    """Process a batch, retrying while the broker or the database is unavailable.

    The next message waits, so outputs keep their order; nothing is skipped.
    """
    delay = 0.5
    while True:
        try:
            validator.process(incoming)
            return
        except PublishError as exc:
            # The decision is committed in the outbox: only its delivery is left to do.
            log.warning("validator.publish_failed", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
            try:
                validator.outbox.relay_unpublished()
                return
            except PublishError:
                pass
        except DBAPIError as exc:
            log.warning("validator.database_unavailable", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
