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
              session_timeout: float, partitions: int, replication: int) -> faust.App:
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
        async for event in stream.events():
            m = event.message
            headers = m.headers.items() if isinstance(m.headers, dict) else (m.headers or [])
            incoming = Incoming(m.topic, m.partition, m.offset, timestamp_of(m.timestamp),
                                m.key, m.value, list(headers))
            await _until_done(validator, incoming)

    return app


async def _until_done(validator: Validator, incoming: Incoming) -> None:
    """Process one message, retrying while the broker or the database is unavailable.

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
                validator.relay_unpublished()
                return
            except PublishError:
                pass
        except DBAPIError as exc:
            log.warning("validator.database_unavailable", error=str(exc), retry_in=delay)
            await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
