"""The transactional outbox every stage uses.

A stage writes what it will publish in the same transaction as its state and consumed
positions, publishes after the commit, and marks the rows published once the broker
acknowledged them. Rows left unpublished by a crash are relayed on the next start. A row the
broker refuses for good (too large for it, say) is parked, never retried at every start: an
output that cannot be published must not stop a restart.

Every output is signed here, by the staging stage's key, one signature for each batch staged
(audit/provenance.py), before it is stored: the row holds what is published, and a relay or a
rehydration publishes it as signed.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, or_, select, update

from events.codec import encode_payload, to_headers
from events.envelope import Actor, Envelope
from events.errors import PublishError
from audit.provenance import StageSigner
from events.publisher import Outgoing, Publisher
from events.registry import kind_for
from events.topics import Topics
from runtime import parking, store

Staged = list[tuple[int, Outgoing]]


class Outbox:
    def __init__(self, engine: Engine, publisher: Publisher, stage: str, signer: StageSigner | None = None,
                 *, topics: Topics | None = None, actor: Actor | None = None):
        """`signer`: the stage's key, which every staged output is signed with; None for an
        outbox that only publishes rows staged before (a relay, a rehydration). `topics` and
        `actor`: where the stage's events go and who it acts as, for `event`."""
        self.engine, self.publisher, self.owner, self.signer = engine, publisher, stage, signer
        self.topics, self.actor = topics, actor

    @property
    def source(self) -> str:
        """The CloudEvents source of everything this stage emits."""
        return f"govshare/{self.owner}"

    def event(self, payload: object, *, aggregate_id: str, sequence: int, at: datetime,
              event_id: uuid.UUID, policy_id: str, cause: Envelope | None = None,
              correlation_id: uuid.UUID | None = None, key: str | None = None,
              provider: str | None = None) -> Outgoing:
        """An event the stage decided, as it is published: the one place a govshare-made
        envelope is built. It happened and was recorded `at`, by the stage's actor, caused by
        `cause` (None: the clock), on its aggregate's topic keyed by `key` (the aggregate id
        unless given); `provider`: the department answerable for its subject."""
        kind = kind_for(payload)
        envelope = Envelope(
            event_id=event_id, event_type=kind.event_type, schema_version=kind.version,
            aggregate_type=kind.aggregate_type, aggregate_id=aggregate_id, sequence=sequence,
            occurred_at=at, recorded_at=at, actor=self.actor, policy_id=policy_id,
            correlation_id=correlation_id or (cause.correlation_id if cause else event_id),
            causation_id=cause.event_id if cause else None, source=self.source, provider=provider)
        return Outgoing(self.topics.of_aggregate(kind.aggregate_type), (key or aggregate_id).encode(),
                        encode_payload(payload), to_headers(envelope))

    def stage(self, tx: Connection, source_id: str | None, out: Outgoing) -> tuple[int, Outgoing]:
        return self.stage_many(tx, [(source_id, out)])[0]

    def stage_many(self, tx: Connection, items: list[tuple[str | None, Outgoing]]) -> Staged:
        """Stage a batch's outputs in one statement, in order."""
        if not items:
            return []
        if self.signer is None:
            raise RuntimeError(f"the {self.owner} outbox has no key to sign its outputs with")
        # One signature over the batch (audit/provenance.py), every record carrying its path:
        # signed in the deciding transaction, so a row written into the table by anyone else
        # goes out unsigned and is set aside where it is read.
        items = list(zip((source_id for source_id, _ in items), self.signer.sign_batch([out for _, out in items])))
        seqs = tx.execute(insert(store.outbox).returning(store.outbox.c.seq, sort_by_parameter_order=True), [
            dict(stage=self.owner, source_event_id=source_id, topic=out.topic, key=out.key,
                 value=out.value, headers=store.headers_to_text(out.headers), published=False)
            for source_id, out in items]).scalars().all()
        return list(zip(seqs, (out for _, out in items)))

    def signed_again(self, tx: Connection, rows: Staged) -> Staged:
        """Outputs staged before, put out again (a publisher's retry answered the same): signed
        anew as a batch of their own, so a reader that read their first batch takes them as
        records put out again, not as records of that batch put out of their place."""
        if not rows:
            return []
        signed = self.signer.sign_batch([out for _, out in rows])
        for (seq, _), out in zip(rows, signed):
            tx.execute(update(store.outbox).where(store.outbox.c.seq == seq)
                       .values(headers=store.headers_to_text(out.headers)))
        return [(seq, out) for (seq, _), out in zip(rows, signed)]

    def staged_for(self, tx: Connection, source_ids: list[str]) -> dict[str, Staged]:
        """What was staged before for each of these inputs: a redelivery is answered the same."""
        found: dict[str, Staged] = {}
        if source_ids:
            rows = tx.execute(select(store.outbox).where(
                store.outbox.c.stage == self.owner, store.outbox.c.source_event_id.in_(source_ids))
                .order_by(store.outbox.c.seq))
            for r in rows:
                found.setdefault(r.source_event_id, []).append((r.seq, store.as_outgoing(r)))
        return found

    def publish(self, rows: Staged) -> None:
        """Publish and mark published; rows the broker refuses for good are parked."""
        if not rows:
            return
        refused: dict[int, str] = {}
        retry: PublishError | None = None
        landed = [seq for seq, _ in rows]
        try:
            self.publisher.publish(out for _, out in rows)
        except PublishError as exc:
            if not exc.permanent or exc.failed is None:
                raise
            refused = {rows[i][0]: reason for i, reason in exc.permanent.items()}
            landed = [seq for i, (seq, _) in enumerate(rows) if i not in exc.failed]
            if exc.failed - set(exc.permanent):
                retry = exc  # the others that failed may land on a retry: left for the relay
        with self.engine.begin() as tx:
            # By runs of consecutive seqs (a batch's rows are one run, or a few): a statement of
            # one or two ranges rather than one of a bound value per row.
            runs = _runs(sorted(landed + list(refused)))
            if runs:
                tx.execute(update(store.outbox).where(or_(*(store.outbox.c.seq.between(lo, hi) for lo, hi in runs)))
                           .values(published=True))
            for seq, out in rows:
                if seq in refused:
                    parking.park_output(tx, self.owner, out, f"the broker refused it: {refused[seq]}")
        if retry is not None:
            raise retry

    def relay_unpublished(self) -> int:
        """Publish outputs committed before a crash but never acknowledged by the broker."""
        with self.engine.connect() as conn:
            rows = [(r.seq, store.as_outgoing(r)) for r in conn.execute(
                select(store.outbox).where(store.outbox.c.stage == self.owner,
                                           store.outbox.c.published.is_(False))
                .order_by(store.outbox.c.seq))]
        self.publish(rows)
        return len(rows)


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """Sorted seqs as (first, last) of each run of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs
