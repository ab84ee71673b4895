"""The in-memory runner: every stage of a System in one process, its topics as lists in memory,
the clock and the ticks the caller's.

It runs the stages exactly as the Kafka runner does (runtime/loop.py: one transaction per batch
with the consumed positions and the outbox, the same parking and failure policy, outputs signed
and checked), only the broker is a list and nothing waits: `run` hands each stage what it has
not read yet, in the order it was published, until no stage has anything left. Tests run their
scenarios on it, and `govshare simulate`, `rebuild` and `replay` do too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from events.errors import PublishError
from events.publisher import MESSAGE_MAX_BYTES, Outgoing
from runtime import parking
from runtime.loop import Runner
from runtime.message import Incoming
from runtime.system import System, Wiring

CLUSTER = "memory"  # the positions of an in-memory log, apart from any broker's


class MemoryBroker:
    """Topics of one partition each, appended to by `publish`, stamped with the clock's time as
    a broker stamps its log time. It refuses what a broker would refuse for good (a message
    over MESSAGE_MAX_BYTES), as the Kafka publisher reports it."""

    def __init__(self, now: Callable[[], datetime]):
        self.now = now
        self.topics: dict[str, list[Incoming]] = {}
        self.order: list[Incoming] = []  # every message in the order it was published

    def publish(self, messages: Iterable[Outgoing], timeout: float = 0.0) -> list[tuple[int, int]]:
        landed, refused = [], {}
        for i, m in enumerate(messages):
            if len(m.value or b"") + len(m.key or b"") > MESSAGE_MAX_BYTES:
                refused[i] = f"Broker: Message size too large ({len(m.value)} bytes)"
                continue
            log = self.topics.setdefault(m.topic, [])
            message = Incoming(m.topic, 0, len(log), self.now(), m.key, m.value, list(m.headers))
            log.append(message)
            self.order.append(message)
            landed.append((0, message.offset))
        if refused:
            raise PublishError(f"publish failed: {next(iter(refused.values()))}", permanent=refused,
                               failed=set(refused))
        return landed

    def close(self) -> None:
        pass


@dataclass
class InMemoryRunner:
    """Runs `system` with each stage built from `wire(name, broker)` (its Wiring)."""
    system: System
    wire: Callable[[str, MemoryBroker], Wiring]
    now: Callable[[], datetime]
    broker: MemoryBroker = field(init=False)
    stages: dict[str, Any] = field(init=False, default_factory=dict)
    runners: dict[str, Runner] = field(init=False, default_factory=dict)
    wirings: dict[str, Wiring] = field(init=False, default_factory=dict)
    _read: dict[str, int] = field(init=False, default_factory=dict)  # how far in broker.order

    def __post_init__(self) -> None:
        self.broker = MemoryBroker(self.now)
        for spec in self.system.stages:
            w = self.wire(spec.name, self.broker)
            stage = spec.build(w)
            self.wirings[spec.name], self.stages[spec.name] = w, stage
            self.runners[spec.name] = Runner(stage, CLUSTER, wanted=self.system.wanted(spec.name), batch=spec.batch)
            self._read[spec.name] = 0
        for spec in self.system.stages:
            stage = self.stages[spec.name]
            stage.start()
            if stage.outbox is not None:
                stage.outbox.relay_unpublished()

    def restart(self, name: str, build: Callable[[Wiring], Any] | None = None) -> None:
        """A new instance of a stage over its database: what a restarted worker would be
        (`build`: made otherwise than the System makes it, as a test may need)."""
        spec = self.system.stage(name)
        stage = self.stages[name] = (build or spec.build)(self.wirings[name])
        self.runners[name] = Runner(stage, CLUSTER, wanted=self.system.wanted(name), batch=spec.batch)
        stage.start()
        if stage.outbox is not None:  # what it committed and never saw acknowledged, as at a start
            stage.outbox.relay_unpublished()

    def publish(self, messages: Iterable[Outgoing]) -> None:
        """What an integrator publishes to an inbox (or anyone to any topic)."""
        self.broker.publish(list(messages))

    def run(self) -> int:
        """Every stage reads what it has not read yet, in publication order, again and again
        until none has anything left; returns how many messages the stages were handed."""
        handed, inputs = 0, {s.name: self._inputs(s.name) for s in self.system.stages}
        while True:
            moved = 0
            for spec in self.system.stages:
                start = self._read[spec.name]
                fresh = [m for m in self.broker.order[start:] if inputs[spec.name](m.topic)]
                self._read[spec.name] = len(self.broker.order)
                for i in range(0, len(fresh), spec.batch):
                    self.runners[spec.name].process(fresh[i:i + spec.batch])
                moved += len(fresh)
            handed += moved
            if not moved:
                return handed

    def tick(self) -> int:
        """The timers of the stages that have one fire at the clock's now, and everything they
        emitted runs through, until nothing more falls due at this instant (a breach orders a
        rectification whose own limit may have passed too); returns how many events fired."""
        fired = total = 0
        while True:
            fired = sum(self.stages[s.name].tick(self.now()) for s in self.system.stages if s.ticks)
            self.run()
            total += fired
            if not fired:
                return total

    def retry_parked(self) -> int:
        """What `govshare retry-parked` marked, run again by each stage; then run through."""
        applied = sum(r.retry_parked() for r in self.runners.values())
        self.run()
        return applied

    def parked(self) -> list[dict[str, Any]]:
        return [row for w in self._engines() for row in parking.listed(w)]

    def _engines(self):
        return list({id(w.engine): w.engine for w in self.wirings.values()}.values())

    def _inputs(self, name: str) -> Callable[[str], bool]:
        spec = self.system.stage(name)
        topics = self.wirings[name].topics
        if spec.reads.value == "inboxes":
            # As the Kafka runner's pattern subscription: every inbox-like name, known or not.
            prefix = topics.inbox("")
            return lambda t: t.startswith(prefix)
        wanted = set(self.system.inputs(name, topics))
        return wanted.__contains__
