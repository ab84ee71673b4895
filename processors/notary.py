"""The notary: sequences every output message into the audit trail and signs checkpoints.

It reads every topic the validator and the processors write (accepted events, rejections,
dead letters), gives each new record the next trail position, extends the hash chain and the
Merkle tree, and publishes a signed `TrailCheckpointed` on the single-partition trail topic.
The log thereby anchors the trail's order and content: a projection rebuilt from it holds the
same trail, and a database that disagrees with the signed checkpoints has been tampered with.

A trail has one order, so a deployment runs exactly one notary (a single writer, as a
transparency log's sequencer is). Its head, consumed positions and the checkpoint to publish
commit in one transaction; records seen before (a redelivery, a rehydrated log) are skipped
by id.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Connection, Engine, insert, select, update

from audit import note
from events import merkle
from audit import trail as tr
from audit.trail import Signer
from events.envelope import Actor, Role
from audit.provenance import StageKeys
from events.publisher import Outgoing, Publisher
from events.topics import Topics
from processors import store
from runtime.clock import Clock
from runtime.message import Incoming
from runtime.outbox import Outbox, Staged

log = structlog.get_logger("govshare.notary")
CHECKPOINT_NAMESPACE = uuid.UUID("6f1b1c9e-3a51-4d7e-9a53-2f7d8b1e0c47")


@dataclass
class _Head:
    frontier: merkle.Frontier
    chain_head: bytes
    checkpoints: int
    new: bool


def extend_and_sign(frontier: merkle.Frontier, chain: bytes, records: list[tr.TrailRecord], *,
                    origin: str, signer: Signer, at: datetime) -> tr.TrailCheckpointed:
    """Append records to the trail's head (the frontier grows in place), extend the chain,
    and sign the new tree head under the key name `origin` (C2SP: the log's key name is its
    origin)."""
    previous = frontier.size
    leaves = []
    for r in records:
        leaf = r.leaf_hash
        frontier.append(leaf)
        chain = merkle.chain_hash(chain, leaf)
        leaves.append(tr.TrailLeaf(record_id=r.record_id, kind=r.kind, leaf_hash=leaf))
    root = frontier.root()
    body = tr.checkpoint_note(origin, frontier.size, root, chain, at)
    return tr.TrailCheckpointed(
        origin=origin, previous_size=previous, tree_size=frontier.size, leaves=tuple(leaves),
        root_hash=root, chain_head=chain, signed_at=at, key_id=note.key_id(origin, signer.public_key),
        signature=signer.sign(body))


class Notary:
    """A stage of the runtime over every output topic; one per deployment."""
    name = "notary"

    def __init__(self, engine: Engine, topics: Topics, publisher: Publisher, signer: Signer,
                 clock: Clock, origin: str | None = None, *, keys: StageKeys, records: tr.Records | None = None):
        """`signer`: the trail key, over checkpoints; `keys`: the notary's stage key, over the
        messages it publishes, and the ring what it seals must be signed with (a record no stage
        signed is parked, never sealed as govshare's); `records`: the projector's records, where
        it runs in the same process."""
        self.engine, self.topics, self.records = engine, topics, records
        self.signer, self.clock = signer, clock
        self.ring = keys.ring
        self.origin = origin or tr.origin_of(topics.prefix)
        if not note.valid_name(self.origin):
            raise ValueError(f"the trail origin {self.origin!r} cannot name a signing key: "
                             f"no spaces or '+' (C2SP signed-note)")
        self.outbox = Outbox(engine, publisher, self.name, keys.signer(self.name), topics=topics,
                             actor=Actor(department="govshare", person="notary", role=Role.SYSTEM))

    def start(self) -> None:
        pass

    def decode(self, m: Incoming) -> tr.TrailRecord:
        # The stored record is sealed as it is: the payload is never decoded here.
        made = self.records.take(m) if self.records is not None else None
        if made is not None:
            return made
        return tr.trail_record(m.topic, m.partition, m.offset, m.headers, m.value,
                               dead_letter_topic=self.topics.dead_letters, with_payload=False)

    def apply(self, tx: Connection, batch: list[tuple[Incoming, tr.TrailRecord]]) -> Staged:
        """Append the records not seen before and sign the new head in one checkpoint."""
        unique = {r.record_id: r for _, r in batch}
        fresh = store.first_seen(tx, self.name, list(unique))
        records = [r for record_id, r in unique.items() if record_id in fresh]
        return [self._checkpoint(tx, records)] if records else []

    def _checkpoint(self, tx: Connection, fresh: list[tr.TrailRecord]) -> tuple[int, Outgoing]:
        head = self._head(tx)
        signed_at = self.clock.now()
        checkpoint = extend_and_sign(head.frontier, head.chain_head, fresh, origin=self.origin,
                                     signer=self.signer, at=signed_at)
        values = dict(tree_size=checkpoint.tree_size, frontier=head.frontier.to_bytes(),
                      chain_head=checkpoint.chain_head, checkpoints=head.checkpoints + 1)
        if head.new:
            tx.execute(insert(store.notary), dict(origin=self.origin, **values))
        else:
            tx.execute(update(store.notary).where(store.notary.c.origin == self.origin).values(**values))
        log.info("trail.checkpointed", tree_size=checkpoint.tree_size, appended=len(fresh))
        return self.outbox.stage(tx, None, self.outbox.event(
            checkpoint, aggregate_id=self.origin, sequence=head.checkpoints + 1, at=signed_at,
            event_id=uuid.uuid5(CHECKPOINT_NAMESPACE, f"{self.origin}:{checkpoint.tree_size}"),
            policy_id="common", correlation_id=uuid.uuid5(CHECKPOINT_NAMESPACE, self.origin)))

    def _head(self, tx: Connection) -> _Head:
        row = tx.execute(select(store.notary).where(store.notary.c.origin == self.origin)).first()
        if row is None:
            return _Head(merkle.Frontier(), merkle.CHAIN_START, 0, True)
        return _Head(merkle.Frontier.from_bytes(row.tree_size, row.frontier), row.chain_head,
                     row.checkpoints, False)
