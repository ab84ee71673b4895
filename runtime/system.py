"""The pipeline as a value: which stages there are, what each reads and acts on, what each
writes. Everything the runners and the trail need about the topology is derived from it, in
this one place, as pyeventsourcing derives its processes' subscriptions from a `System`:

- the topics a stage subscribes to, from the event classes it handles (an event class's topic
  is its aggregate's, events/topics.py) or from what the others write;
- the ce_type values it acts on (the filter before any decoding);
- which stages sign outputs, and which stage may write which topic (audit/provenance.py checks
  every record against it);
- which stages read a topic (`describe`, for a person).

Two runners run the same System: the Kafka runner (runtime/loop.py: the stages in the
processes `placement` says, one consumer a process, consumer groups, outboxes, parking;
`govshare up`) and the in-memory runner
(runtime/memory.py: every stage in one process, the caller's clock; tests, `simulate`,
`replay`). A stage never knows which runner it is in.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from events.registry import ce_types_of, kind_for_class
from events.topics import Topics


class Reads(enum.Enum):
    INBOXES = "inboxes"  # what departments publish, not yet judged (the validator)
    HANDLED = "handled"  # the topics of the event classes the stage handles
    LOG = "log"  # every topic another stage writes (the notary, the projector)


# What the validator writes for bytes it cannot read: not an event class of the registry.
DEAD_LETTERS = "dead-letters"


@dataclass(frozen=True)
class StageSpec:
    """One stage of the System. `build` makes the stage from its Wiring (an engine, a publisher,
    keys, the clock and the deployment's settings); `handles` are the event classes it acts on;
    `emits` those it publishes (DEAD_LETTERS for undecodable input)."""
    name: str
    build: Callable[[Wiring], Any]
    handles: tuple[type, ...] = ()
    emits: tuple[type | str, ...] = ()
    reads: Reads = Reads.HANDLED
    # Several instances share the partitions in a consumer group (True), or one reads every
    # partition (a trail has one order; a projection one writer).
    grouped: bool = True
    ticks: bool = False  # has a timer: deadlines falling due, grants expiring
    batch: int = 500


@dataclass(frozen=True)
class Wiring:
    """What a stage is built from, whichever runner runs it."""
    engine: Any
    publisher: Any
    topics: Topics
    keys: Any  # audit.provenance.StageKeys: its own signing key, and every stage's public one
    clock: Any  # runtime.clock.Clock
    policies: Any = None  # the policy profiles and the department directory the rules read
    settings: Any = None  # the deployment's settings (infra.config.Settings), opaque here
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Process:
    """One kind of OS process of the Kafka runner: the stages it runs over one consumer, and how
    many instances of it a deployment starts (more than one only where its stages join consumer
    groups). Its name, `deadlines+grants`, is what `govshare run` takes."""
    stages: tuple[str, ...]
    instances: int = 1

    @property
    def name(self) -> str:
        return "+".join(self.stages)


@dataclass(frozen=True)
class System:
    stages: tuple[StageSpec, ...]
    # Which stages share an OS process (and a consumer) unless a deployment says otherwise
    # (`placement`); empty: each stage a process of its own.
    processes: str = ""

    def __post_init__(self) -> None:
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            raise ValueError(f"a stage named twice in {names}")
        self.placement(self.processes)

    # -- processes --------------------------------------------------------------------------

    def placement(self, text: str | None = None) -> tuple[Process, ...]:
        """The processes of a deployment, from words such as `validator*2 deadlines+grants
        notary+projector`: each word one kind of process, its stages joined by `+`, `*N` for N
        instances. Every stage runs in exactly one kind; stages share a process only when all
        join consumer groups or none does (one consumer serves them all). ValueError with a
        sentence for anything else."""
        words = (text if text is not None else self.processes).replace(";", " ").replace(",", " ").split()
        if not words:
            return tuple(Process((name,)) for name in self.names)
        found, seen = [], set()
        for word in words:
            stages, _, count = word.partition("*")
            try:
                instances = int(count) if count else 1
            except ValueError:
                raise ValueError(f"{word!r}: the instance count after '*' is no number") from None
            names = tuple(stages.split("+"))
            for name in names:
                self.stage(name)  # names the known stages if it is none of them
                if name in seen:
                    raise ValueError(f"the {name} stage is placed in two processes")
                seen.add(name)
            grouped = {self.stage(n).grouped for n in names}
            if len(grouped) > 1:
                raise ValueError(f"{word!r}: {', '.join(n for n in names if not self.stage(n).grouped)} "
                                 f"read every partition, the others share them in consumer groups; "
                                 f"one consumer cannot do both")
            if instances < 1:
                raise ValueError(f"{word!r}: a process runs at least once")
            if instances > 1 and not self.stage(names[0]).grouped:
                raise ValueError(f"{word!r}: stages that read every partition run once per deployment "
                                 f"(a trail has one order, a projection one writer)")
            found.append(Process(names, instances))
        missing = [n for n in self.names if n not in seen]
        if missing:
            raise ValueError(f"no process runs the {', '.join(missing)} stage(s)")
        return tuple(found)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise ValueError(f"no stage {name!r}: one of {', '.join(self.names)}")

    # -- topics ---------------------------------------------------------------------------

    def writes(self, name: str, topics: Topics) -> list[str]:
        """The topics a stage publishes to."""
        return list(dict.fromkeys(_topic_of(c, topics) for c in self.stage(name).emits))

    def inputs(self, name: str, topics: Topics) -> list[str]:
        """The topics a stage reads, each partition of them (for assignment and positions)."""
        spec = self.stage(name)
        if spec.reads is Reads.INBOXES:
            return list(dict.fromkeys(topics.inbox(kind_for_class(c).aggregate_type) for c in spec.handles))
        if spec.reads is Reads.HANDLED:
            return list(dict.fromkeys(_topic_of(c, topics) for c in spec.handles))
        own = set(self.writes(name, topics))
        return [t for t in self.outputs(topics) if t not in own]

    def subscription(self, name: str, topics: Topics) -> list[str]:
        """What a stage in a consumer group subscribes to: its inputs; the inbox reader every
        inbox-like name, so that a message to an unknown inbox is answered with a dead letter
        naming the known ones."""
        if self.stage(name).reads is Reads.INBOXES:
            return [topics.inbox_pattern]
        return self.inputs(name, topics)

    def outputs(self, topics: Topics) -> list[str]:
        """Every topic a stage writes, in the order the stages are declared: the log the trail
        covers and the projections are built from."""
        return list(dict.fromkeys(t for s in self.stages for t in self.writes(s.name, topics)))

    def inboxes(self, topics: Topics) -> list[str]:
        return [t for s in self.stages if s.reads is Reads.INBOXES for t in self.inputs(s.name, topics)]

    def all_topics(self, topics: Topics) -> list[str]:
        return list(dict.fromkeys(self.inboxes(topics) + self.outputs(topics)))

    # -- filters and signatures ---------------------------------------------------------------

    def wanted(self, name: str) -> frozenset[bytes] | None:
        """The ce_type values a stage acts on, checked on the header before decoding; None: every
        message it reads (the inbox reader answers each; the log readers seal or apply each)."""
        spec = self.stage(name)
        if spec.reads is not Reads.HANDLED:
            return None
        return frozenset(t.encode() for t in ce_types_of(spec.handles))

    def signing_stages(self) -> tuple[str, ...]:
        """The stages that publish, each with a signing key of its own."""
        return tuple(s.name for s in self.stages if s.emits)

    def writers(self, topics: Topics) -> dict[str, frozenset[str]]:
        """Which stages may write each output topic: a record signed by any other stage's key is
        not that topic's, whoever signed it."""
        found: dict[str, set[str]] = {}
        for s in self.stages:
            for t in self.writes(s.name, topics):
                found.setdefault(t, set()).add(s.name)
        return {t: frozenset(names) for t, names in found.items()}

    def reader(self, name: str, topics: Topics) -> Callable[[str], bool]:
        """Whether stage `name` reads a topic: what a process's one consumer hands it of what it
        delivers for all the process's stages."""
        if self.stage(name).reads is Reads.INBOXES:
            pattern = re.compile(topics.inbox_pattern)
            return lambda topic: pattern.match(topic) is not None
        return frozenset(self.inputs(name, topics)).__contains__

    def readers(self, topic: str, topics: Topics) -> list[str]:
        return [s.name for s in self.stages if topic in self.inputs(s.name, topics)]

    def describe(self, topics: Topics) -> str:
        """The topology for a person, as Kafka Streams' Topology.describe() gives it."""
        lines = []
        for s in self.stages:
            scale = "consumer group" if s.grouped else "one per deployment"
            lines.append(f"stage {s.name} ({scale}{', ticks' if s.ticks else ''})")
            handled = ", ".join(sorted(kind_for_class(c).event_type for c in s.handles)) or "every record"
            lines.append(f"  reads    {', '.join(self.subscription(s.name, topics))}")
            lines.append(f"  acts on  {handled}")
            lines.append(f"  writes   {', '.join(self.writes(s.name, topics)) or '(tables only)'}")
        return "\n".join(lines)


def _topic_of(cls: type | str, topics: Topics) -> str:
    if cls == DEAD_LETTERS:
        return topics.dead_letters
    return topics.of_aggregate(kind_for_class(cls).aggregate_type)


def classes(*groups: Iterable[type]) -> tuple[type, ...]:
    """Event classes from several groups, each once, in order."""
    return tuple(dict.fromkeys(c for g in groups for c in g))
