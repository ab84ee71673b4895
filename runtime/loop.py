"""The one consumer runtime every stage runs on: validator, deadline engine, grant keeper, notary
and projector.

One loop: batches from the broker (confluent-kafka `consume`), a filter on the `ce_type` header
before any decoding, one decode per message, the stage's handler over the whole batch in one
transaction with the consumed positions and the outbox, publish after the commit.

One failure policy:
- the broker or the database is away (a transient error): the batch rolled back whole and is
  run again with backoff, in order; nothing is skipped;
- a message the stage cannot apply (a constraint, a handler bug, a value its tables cannot
  hold, bytes it cannot decode): the batch is split until that message stands alone, and the
  message is **parked** (runtime/parking.py) with the error, its id and position, while the
  rest of the batch and everything after it goes on. `govshare retry-parked` runs it again.

A stage that reads output topics names the ring of stage keys (`ring`): a message no stage of
the deployment signed is parked before it is decoded, so it is never sealed or applied as
govshare's, and a retry checks it again.
"""
from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from events.errors import PublishError
from audit.provenance import NotGovshares, StageRing
from runtime import parking, store
from runtime.message import Incoming, from_kafka
from runtime.outbox import Outbox, Staged

log = structlog.get_logger("govshare.runtime")


class Retry(RuntimeError):
    """Raised by a stage when the batch met a race another worker won (a stale deadline, a data
    item claimed meanwhile): the batch rolled back whole and is run again at once, now seeing
    the other's write. Should the same batch keep raising it, it is a fault, split and parked."""


RETRIES = 3


def transient(exc: BaseException) -> bool:
    """Errors about the infrastructure, not the message: retried with backoff, never parked."""
    if isinstance(exc, (OperationalError, InterfaceError, PublishError)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class Stage(Protocol):
    """What a stage gives the runtime (what it reads, and what it acts on, are the System's to
    say: runtime/system.py). `ring`: the stage keys its inputs must be signed with (None: it
    reads inboxes, which anyone may write); `start` prepares it before the first message;
    `decode` turns one message into what `apply` takes (raising for bytes it cannot read);
    `apply` handles a batch inside the transaction and returns the outputs it staged."""
    name: str
    engine: Engine
    outbox: Outbox | None
    ring: StageRing | None

    def start(self) -> None: ...

    def decode(self, m: Incoming) -> Any: ...

    def apply(self, tx: Connection, batch: list[tuple[Incoming, Any]]) -> Staged: ...


@dataclass
class Runner:
    """Runs one stage over batches of messages: `process` (a batch, as both runners hand it),
    `retry_parked`, and `run` (the Kafka loop)."""
    stage: Stage
    cluster_id: str
    wanted: frozenset[bytes] | None = None  # the ce_type values the stage acts on (None: all)
    # A stage's own test on the headers, before the signature check and the decode (a replay:
    # only what was recorded by its instant); None: every message.
    admits: Callable[[Incoming], bool] | None = None
    batch: int = 500
    window: float = 0.05  # seconds a batch may gather: throughput vs latency
    tick: Callable[[], int] | None = None  # the stage's timer (deadlines, grant expiry)
    tick_seconds: float = 1.0
    # Whether the stage reads a topic, where one consumer serves several stages of a process
    # (runtime/system.py, Process); None: everything its consumer delivers.
    reads: Callable[[str], bool] | None = None
    _next_tick: float = field(default=0.0, init=False)
    _next_retry_check: float = field(default=0.0, init=False)
    _pending: list[Incoming] = field(default_factory=list, init=False)
    _started: float = field(default=0.0, init=False)
    # How many batches the stage committed and the messages in them (logged as it stops: the
    # mean batch is what per-batch costs are shared by).
    batches: int = field(default=0, init=False)
    messages: int = field(default=0, init=False)

    # -- one batch ----------------------------------------------------------------------

    def process(self, messages: list[Incoming]) -> Staged:
        """Apply a batch, parking what cannot be applied; returns what was published. Raises only
        transient errors (the broker or the database away)."""
        staged = self._apply_or_split(messages)
        self._publish(staged)
        self.batches += 1
        self.messages += len(messages)
        return staged

    def _apply_or_split(self, messages: list[Incoming]) -> Staged:
        for _ in range(RETRIES + 1):
            try:
                return self._commit(messages)
            except Retry as exc:
                failure: Exception = exc
            except Exception as exc:
                if transient(exc):
                    raise
                failure = exc
                break
        if len(messages) == 1:
            self._park(messages[0], failure)
            return []
        mid = len(messages) // 2
        return self._apply_or_split(messages[:mid]) + self._apply_or_split(messages[mid:])

    def _commit(self, messages: list[Incoming]) -> Staged:
        stage = self.stage
        with stage.engine.begin() as tx:
            consumed = store.Positions(tx, self.cluster_id, stage.name)
            items = []
            for m in consumed.unseen(messages):
                if self.wanted is not None and m.header("ce_type") not in self.wanted:
                    continue  # decided by the header: most messages are not this stage's
                if self.admits is not None and not self.admits(m):
                    continue
                try:
                    items.append((m, decoded(stage, m)))
                except Exception as exc:
                    if transient(exc):
                        raise
                    parking.park(tx, stage.name, m, _describe(exc))
                    # A record no stage signed is a security event, not a bug: named as such.
                    log.error("output.foreign" if isinstance(exc, NotGovshares) else "stage.parked",
                              stage=stage.name, topic=m.topic, partition=m.partition, offset=m.offset,
                              error=_describe(exc))
            staged = stage.apply(tx, items) if items else []
            consumed.save()
        return staged

    def _park(self, m: Incoming, exc: Exception) -> None:
        error = _describe(exc)
        log.error("stage.parked", stage=self.stage.name, topic=m.topic, partition=m.partition,
                  offset=m.offset, error=error)
        with self.stage.engine.begin() as tx:
            consumed = store.Positions(tx, self.cluster_id, self.stage.name)
            if list(consumed.unseen([m])):
                parking.park(tx, self.stage.name, m, error)
            consumed.save()

    def _publish(self, staged: Staged) -> None:
        # A PublishError leaves the rows committed in the outbox: the loop backs off and relays
        # them (running the batch again finds every message of it consumed already).
        if staged and self.stage.outbox is not None:
            self.stage.outbox.publish(staged)

    # -- parked messages an operator asked to run again -----------------------------------

    def retry_parked(self) -> int:
        """Run the messages marked by `govshare retry-parked`; returns how many now applied."""
        stage, applied = self.stage, 0
        with stage.engine.connect() as conn:
            wanted = parking.to_retry(conn, stage.name)
        for parked_id, m in wanted:
            try:
                with stage.engine.begin() as tx:
                    staged = stage.apply(tx, [(m, decoded(stage, m))])
                    parking.settle(tx, parked_id, None)
            except Exception as exc:
                if transient(exc):
                    raise
                with stage.engine.begin() as tx:
                    parking.settle(tx, parked_id, _describe(exc))
                log.warning("stage.retry_failed", stage=stage.name, parked=parked_id, error=_describe(exc))
                continue
            applied += 1
            log.info("stage.retry_applied", stage=stage.name, parked=parked_id)
            self._publish(staged)
        return applied

    # -- the loop -------------------------------------------------------------------------

    def run(self, consumer: Consumer, stop: threading.Event) -> None:
        """Consume until `stop`; the consumer is subscribed or assigned by the caller."""
        run_together([self], consumer, stop)

    def _gather(self, m: Incoming) -> None:
        if not self._pending:
            self._started = time.monotonic()
        self._pending.append(m)

    def _due(self, now: float) -> bool:
        return bool(self._pending) and (len(self._pending) >= self.batch or now - self._started >= self.window)

    def _housekeeping(self, stop: threading.Event) -> None:
        now = time.monotonic()
        if self.tick is not None and now >= self._next_tick:
            self._next_tick = now + self.tick_seconds
            try:
                self.tick()
            except Exception:
                # A bad clock reading or a database away: the next tick tries again.
                log.exception("stage.tick_failed", stage=self.stage.name)
        if now >= self._next_retry_check:
            self._next_retry_check = now + 1.0
            self._until_done(self.retry_parked, stop)

    def _until_done(self, step: Callable[[], object], stop: threading.Event) -> None:
        """Run `step` until it passes, backing off while the broker or database is away; the
        next batch waits, so outputs keep their order."""
        delay = 0.5
        while not stop.is_set():
            try:
                step()
                return
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("stage.retrying", stage=self.stage.name, error=_describe(exc), retry_in=delay)
                stop.wait(delay)
                if self.stage.outbox is not None:
                    try:
                        self.stage.outbox.relay_unpublished()
                    except Exception as relay_exc:
                        if not transient(relay_exc):
                            raise
                delay = min(delay * 2, 30.0)


def run_together(runners: list[Runner], consumer: Consumer, stop: threading.Event) -> None:
    """The Kafka loop of one process: one consumer for all its stages, each message handed to
    every stage that reads its topic, each stage gathering, committing (with its own positions,
    in its own database) and publishing its batches as it would alone. Sharing the consumer is
    what a process of several stages saves: one fetch, one header parse a message, one set of
    librdkafka buffers and one interpreter, instead of one each."""
    for r in runners:
        r._until_done(r.stage.start, stop)
        if r.stage.outbox is not None:
            r._until_done(r.stage.outbox.relay_unpublished, stop)
    # The stage with the shortest window goes first when several are due: the projector's
    # batch (what a reader waits for) before the notary's checkpoint, which also finds the
    # projector's trail records made by then.
    runners = sorted(runners, key=lambda r: r.window)
    next_trim = time.monotonic() + TRIM_SECONDS
    try:
        while not stop.is_set():
            now = time.monotonic()
            # Between batches, when nothing waits (a message that lands meanwhile waits a few
            # milliseconds), or at the latest a minute later under a backlog that never ends.
            if now >= next_trim and (not any(r._pending for r in runners) or now >= next_trim + 50):
                next_trim = now + TRIM_SECONDS
                _trim()
            gathering = [r._started + r.window for r in runners if r._pending]
            room = max(1, min(r.batch - len(r._pending) for r in runners))
            wait = max(0.0, min(gathering) - time.monotonic()) if gathering else 0.1
            if all(r._pending for r in runners):
                got = consumer.consume(room, timeout=wait)
            else:
                # A stage has nothing gathered (the whole process, when idle): its first message
                # is taken the moment it lands, not at the end of another stage's window (the
                # projector's events once waited out the notary's checkpoint interval).
                got = landed(consumer, room, min(wait, 0.1))
            for km in got:
                if km.error() is not None:
                    log.warning("stage.consume_error", stage="+".join(r.stage.name for r in runners),
                                error=str(km.error()))
                    continue
                m = from_kafka(km)
                for r in runners:
                    if r.reads is None or r.reads(m.topic):
                        r._gather(m)
            for r in runners:
                if r._due(time.monotonic()):
                    batch, r._pending = r._pending, []
                    r._until_done(lambda r=r, batch=batch: r.process(batch), stop)
                r._housekeeping(stop)
    finally:
        consumer.close()


# How often a process hands the C heap's free pages back to the system (glibc only).
TRIM_SECONDS = 10.0
try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):
    _malloc_trim = None


def _trim() -> None:
    """A batch's messages, rows and records are freed when it ends, but glibc keeps the pages
    of a fragmented heap; malloc_trim returns the free ones (a few milliseconds). Measured at
    the end of bench.pipeline's 200,000 events: the service's resident memory 688 -> 642 MiB."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def landed(consumer: Consumer, limit: int, timeout: float) -> list:
    """Up to `limit` messages: the first the moment it lands (within `timeout`), with whatever
    landed along with it. `consume` would hold the first until `limit` had come or the timeout
    passed, which is an idle reader's whole wait added to every message's time."""
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first] + (consumer.consume(limit - 1, timeout=0) if limit > 1 else [])


def decoded(stage: Stage, m: Incoming) -> Any:
    """The one decode step of every stage: a message on an output topic must be signed by a
    stage of the deployment (audit/provenance.py) before anything reads what it says."""
    if stage.ring is not None:
        stage.ring.check(m.topic, m.headers, m.value, where=(m.partition, m.offset))
    return stage.decode(m)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:2000]


# -- consumers ------------------------------------------------------------------------------

def consumer_config(kafka: dict[str, str], group: str, session_timeout: float = 6.0,
                    fetch_wait: float = 0.05) -> dict[str, object]:
    """`fetch_wait`: the longest the broker holds a fetch that found nothing new
    (GOVSHARE_FETCH_WAIT; librdkafka's default, 500 ms, was most of an event's time through an
    idle service, since the embedded broker holds an empty fetch its whole wait)."""
    return {
        **kafka,
        "fetch.wait.max.ms": max(1, int(fetch_wait * 1000)),
        "group.id": group,  # positions live in the stage's database, not in the group
        "enable.auto.commit": False,  # the database transaction is the commit
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "isolation.level": "read_committed",
        # What a consumer prefetches and fetches at once, bounded whatever the backlog (the
        # defaults, 64 MiB queued and 50 MiB a fetch, are per process). 2 MiB is about
        # 1,400 output records ahead (1.5 KB each), more than a batch; 8 MiB cost 74 MiB more resident memory at the end
        # of bench.pipeline's 200,000 events for the same throughput (README, bench/).
        "queued.max.messages.kbytes": 2048,
        "fetch.max.bytes": 2 * 1024 * 1024,
        "session.timeout.ms": int(session_timeout * 1000),
        # A regex subscription (the validator's, Topics.inbox_pattern) sees a new topic at the
        # next metadata refresh: within seconds, not the default five minutes.
        "topic.metadata.refresh.interval.ms": 5000,
        "heartbeat.interval.ms": max(int(session_timeout * 1000 / 6), 500),
    }


def starts(runners: list[Runner], cluster_id: str) -> dict[tuple[str, int], int]:
    """Where a consumer serving `runners` starts each partition: the earliest stored position of
    the stages that read it (one that has not read it yet: its beginning). Each stage skips, by
    its own positions, what it applied before (Positions.unseen)."""
    stored = []
    for r in runners:
        with r.stage.engine.connect() as conn:
            stored.append((r, store.stored_positions(conn, r.stage.name, cluster_id)))
    start: dict[tuple[str, int], int] = {}
    for key in set().union(*(positions for _, positions in stored)):
        readers = [positions for r, positions in stored if r.reads is None or r.reads(key[0])]
        start[key] = (min(p[key] for p in readers) if all(key in p for p in readers)
                      else OFFSET_BEGINNING)
    return start


def assigned(kafka: dict[str, str], group: str, topics: list[str], runners: list[Runner],
             cluster_id: str, fetch_wait: float = 0.05) -> Consumer:
    """A consumer reading every partition of `topics` from the stages' stored positions: for
    stages that run once per deployment (the notary, the projector)."""
    consumer = Consumer(consumer_config(kafka, group, fetch_wait=fetch_wait))
    known = consumer.list_topics(timeout=10).topics
    start = starts(runners, cluster_id)
    consumer.assign([TopicPartition(t, p, start.get((t, p), OFFSET_BEGINNING))
                     for t in topics for p in sorted(known[t].partitions)])
    return consumer


def subscribed(kafka: dict[str, str], group: str, topics: list[str], runners: list[Runner],
               cluster_id: str, session_timeout: float = 6.0, fetch_wait: float = 0.05) -> Consumer:
    """A consumer in the process's group: several instances share the partitions, each
    starting a partition it is given from the stored positions."""
    consumer = Consumer(consumer_config(kafka, group, session_timeout, fetch_wait))

    def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
        start = starts(runners, cluster_id)
        for tp in partitions:
            tp.offset = start.get((tp.topic, tp.partition), OFFSET_BEGINNING)
        c.assign(partitions)
        log.info("stage.assigned", stage="+".join(r.stage.name for r in runners), partitions=len(partitions))

    consumer.subscribe(topics, on_assign=on_assign)
    return consumer
