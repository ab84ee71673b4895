"""The transactional outbox shared by govshare's processors.

A processor writes what it will publish in the same transaction as its state and consumed
position, publishes after the commit, and marks the rows published once the broker
acknowledged them. Rows left unpublished by a crash are relayed on the next start.
"""
from __future__ import annotations

from sqlalchemy import Connection, Engine, insert, select, update

from events.publisher import Outgoing, Publisher
from processors import store


class Outbox:
    def __init__(self, engine: Engine, publisher: Publisher):
        self.engine, self.publisher = engine, publisher

    def stage(self, tx: Connection, source_id: str | None, out: Outgoing) -> tuple[int, Outgoing]:
        seq = tx.execute(insert(store.outbox), dict(
            source_event_id=source_id, topic=out.topic, key=out.key, value=out.value,
            headers=store.headers_to_text(out.headers), published=False)).inserted_primary_key[0]
        return seq, out

    def staged_for(self, tx: Connection, source_id: str) -> list[tuple[int, Outgoing]]:
        rows = tx.execute(select(store.outbox).where(store.outbox.c.source_event_id == source_id)
                          .order_by(store.outbox.c.seq))
        return [(r.seq, store.as_outgoing(r)) for r in rows]

    def publish(self, rows: list[tuple[int, Outgoing]]) -> None:
        if not rows:
            return
        self.publisher.publish(out for _, out in rows)
        with self.engine.begin() as tx:
            tx.execute(update(store.outbox).where(store.outbox.c.seq.in_([s for s, _ in rows]))
                       .values(published=True))

    def relay_unpublished(self) -> int:
        """Publish outputs committed before a crash but never acknowledged by the broker."""
        with self.engine.connect() as conn:
            rows = [(r.seq, store.as_outgoing(r)) for r in conn.execute(
                select(store.outbox).where(store.outbox.c.published.is_(False))
                .order_by(store.outbox.c.seq))]
        self.publish(rows)
        return len(rows)
