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
        return self.stage_many(tx, [(source_id, out)])[0]

    def stage_many(self, tx: Connection, items: list[tuple[str | None, Outgoing]]) -> list[tuple[int, Outgoing]]:
        """Stage a batch's outputs in one statement, in order."""
        if not items:
            return []
        seqs = tx.execute(insert(store.outbox).returning(store.outbox.c.seq, sort_by_parameter_order=True), [
            dict(source_event_id=source_id, topic=out.topic, key=out.key, value=out.value,
                 headers=store.headers_to_text(out.headers), published=False)
            for source_id, out in items]).scalars().all()
        return list(zip(seqs, (out for _, out in items)))

    def staged_for(self, tx: Connection, source_ids: list[str]) -> dict[str, list[tuple[int, Outgoing]]]:
        """What was staged before for each of these inputs: a redelivery is answered the same."""
        found: dict[str, list[tuple[int, Outgoing]]] = {}
        if source_ids:
            rows = tx.execute(select(store.outbox).where(store.outbox.c.source_event_id.in_(source_ids))
                              .order_by(store.outbox.c.seq))
            for r in rows:
                found.setdefault(r.source_event_id, []).append((r.seq, store.as_outgoing(r)))
        return found

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
