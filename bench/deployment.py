"""A benchmark's deployment, put together as `govshare up` puts one together: its settings (a
home, a topic prefix, a broker, one state database), its databases migrated and every key the
stages use made before any stage starts (infra/migrate.py), each stage built from its Wiring by
the System (infra/system.py, infra/stages.py). Nothing here names a stage: which stages there
are, what each reads and who signs, the System says.

`Decided` runs the stages that publish (`SYSTEM.signing_stages()`) in this process over a
workload, chunk by chunk, as the service's processes would over the broker: what a stage
publishes goes to the broker (the log the projector rebuilds from), at the partition and offset
the broker gave it, and is handed to every stage that reads that topic.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from bench.keys import key_dir
from events.publisher import Outgoing, Publisher
from events.topics import Topics
from infra.config import Settings
from infra.database import make_engine
from infra.migrate import migrate
from infra.stages import wiring
from infra.system import SYSTEM
from runtime.loop import Runner
from runtime.message import Incoming

CLUSTER = "bench"  # the positions of the in-process stages, apart from any broker's


def deployment(home: Path, topics: Topics, bootstrap: str | None = None, state_url: str | None = None) -> Settings:
    """The settings of a benchmark's deployment, its databases migrated and its keys made. The
    departments' keys are bench.keys' (the first directory registers them; the workload is
    signed with them); every stage keeps its tables in `state_url` (a SQLite file in `home`)."""
    state_url = state_url or f"sqlite:///{home / 'state.db'}"
    settings = Settings(home=home, bootstrap_servers=bootstrap, database_url=state_url, state_url=state_url,
                        topic_prefix=topics.prefix, department_keys=key_dir(), stage_keys=home / "stage-keys",
                        trail_key=home / "trail-key.pem", clock="system", extra_projections=())
    migrate(settings)
    return settings


def stage(name: str, settings: Settings, publisher, **options):
    """Stage `name` as the System builds it for this deployment, over its database."""
    topics = Topics(settings.topic_prefix)
    return SYSTEM.stage(name).build(wiring(name, settings, topics, publisher,
                                           engine=make_engine(settings.stage_url(name)), **options))


class Relay:
    """The in-process stages' publisher: to the broker, as in the service, and kept (at the
    partition and offset the broker gave each message) for the stages that read it."""

    def __init__(self, kafka: dict[str, str]):
        self.broker = Publisher(kafka)
        self.published: list[Incoming] = []
        # The end of each partition written to: counted here, since the embedded broker's
        # high watermark is short of it while the last batch of a partition is in it.
        self.ends: dict[tuple[str, int], int] = {}

    def publish(self, messages: Iterable[Outgoing], timeout: float = 30.0) -> list[tuple[int, int]]:
        messages = list(messages)
        landed = self.broker.publish(messages, timeout)
        at = datetime.now(timezone.utc)
        for m, (partition, offset) in zip(messages, landed):
            self.ends[(m.topic, partition)] = max(self.ends.get((m.topic, partition), 0), offset + 1)
        self.published += [Incoming(m.topic, partition, offset, at, m.key, m.value, list(m.headers))
                           for m, (partition, offset) in zip(messages, landed)]
        return landed

    def take(self) -> list[Incoming]:
        taken, self.published = self.published, []
        return taken

    def close(self) -> None:
        self.broker.close()


class Decided:
    """The System's publishing stages over a workload, in this process. `decide` hands a chunk
    of inbox messages to the stages, then what they published to the stages that read it,
    round after round until none publishes more; every output is on the broker by then."""

    def __init__(self, settings: Settings, kafka: dict[str, str]):
        topics = Topics(settings.topic_prefix)
        self.relay = Relay(kafka)
        self.names = SYSTEM.signing_stages()
        self.runners: dict[str, Runner] = {}
        for name in self.names:
            built = stage(name, settings, self.relay)
            built.start()  # the validator's first directory, recorded by events the relay publishes
            if built.outbox is not None:
                built.outbox.relay_unpublished()
            self.runners[name] = Runner(built, CLUSTER, wanted=SYSTEM.wanted(name), batch=SYSTEM.stage(name).batch)
        self.reads = {name: set(SYSTEM.inputs(name, topics)) for name in self.names}
        self._offsets: dict[str, int] = {}

    def decide(self, inbox: list[Outgoing], at: datetime) -> None:
        """`inbox`: what departments published, received `at` (the broker's log time)."""
        pending = self.relay.take() + [self._received(m, at) for m in inbox]
        while pending:
            for name in self.names:
                mine = [m for m in pending if m.topic in self.reads[name]]
                batch = self.runners[name].batch
                for i in range(0, len(mine), batch):
                    self.runners[name].process(mine[i:i + batch])
            pending = self.relay.take()

    def records(self, topics: Iterable[str]) -> int:
        """How many records the stages have published to `topics`."""
        wanted = set(topics)
        return sum(end for (topic, _), end in self.relay.ends.items() if topic in wanted)

    def _received(self, m: Outgoing, at: datetime) -> Incoming:
        # Inbox messages are handed over, not published: the projector never reads an inbox,
        # and the broker's memory is kept for the log.
        offset = self._offsets[m.topic] = self._offsets.get(m.topic, -1) + 1
        return Incoming(m.topic, 0, offset, at, m.key, m.value, list(m.headers))

    def close(self) -> None:
        self.relay.close()
