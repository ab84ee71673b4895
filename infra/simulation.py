"""govshare's System on the in-memory runner (runtime/memory.py): every stage in one process over
one database, on a clock the caller moves. The tests run their scenarios on it, and `govshare
simulate` answers "what would the rules say" with it, without a broker.

A submission here is what it is on the service: the same lines read and signed the same way
(infra/submit.py), the same verdicts read from the same outputs (infra/verdicts.py), the same
stages built the same way (infra/stages.wiring); only the broker is a list and time is given.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Engine

from events.errors import PublishError
from events.publisher import Outgoing
from events.signing import Keystore
from events.topics import Topics
from infra.config import Settings
from infra.database import make_engine
from infra.stages import wiring
from infra.submit import read_lines, submitted
from infra.system import SYSTEM
from infra.verdicts import outcomes
from infra.migrate import migrate
from runtime.clock import FixedClock
from runtime.memory import InMemoryRunner


@dataclass
class Simulation:
    """`settings` name the database (database_url and state_url; one database serves every
    stage) and where the keys are; `policies` replace the shipped profiles and directory."""
    settings: Settings
    at: datetime
    policies: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    clock: FixedClock = field(init=False)
    topics: Topics = field(init=False)
    runner: InMemoryRunner = field(init=False)
    _engines: dict[str, Engine] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        migrate(self.settings)
        self.clock = FixedClock(self.at)
        self.topics = Topics(self.settings.topic_prefix)
        self.runner = InMemoryRunner(SYSTEM, self._wire, self.clock.now)

    def _wire(self, name: str, broker):
        url = self.settings.stage_url(name)
        engine = self._engines.get(url) or self._engines.setdefault(url, make_engine(url))
        return wiring(name, self.settings, self.topics, broker, engine=engine, clock=self.clock,
                      policies=self.policies, **self.options)

    def engine(self, stage: str = "projector") -> Engine:
        """The database a stage keeps its tables in (the projections by default)."""
        return self._engines[self.settings.stage_url(stage)]

    def submit(self, lines: Iterable[str | bytes], *, at: datetime | None = None,
               keys: Keystore | None = None) -> list[dict[str, Any]]:
        """Each line's answer, as `govshare submit` gives it, after every stage has run."""
        if at is not None:
            self.clock.set(at)
        invalid, events = read_lines(lines, self.topics, now=self.clock.now(), keys=keys)
        return submitted(invalid, events, lambda: self._publish([m for _, _, m in events], events))

    def _publish(self, messages: list[Outgoing], events):
        start = len(self.runner.broker.order)
        refused: dict[int, str] = {}
        for i, m in enumerate(messages):  # one by one: what the broker refuses is that line's alone
            try:
                self.runner.publish([m])
            except PublishError as exc:
                refused[i] = exc.permanent.get(0, str(exc))
        self.runner.run()
        wanted = {str(e.envelope.event_id) for i, (_, e, _) in enumerate(events) if i not in refused}
        return outcomes(self.topics, self.runner.broker.order[start:], wanted), refused, ""

    def publish(self, messages: Iterable[Outgoing], *, at: datetime | None = None) -> None:
        """Raw messages onto any topic (bytes no line makes, a forged output), then run."""
        if at is not None:
            self.clock.set(at)
        self.runner.publish(messages)
        self.runner.run()

    def advance(self, to: datetime) -> int:
        """The clock moves to `to` and the stages' timers fire; returns how many messages ran."""
        self.clock.set(to)
        return self.runner.tick()

    def rebuild(self, url: str, **options) -> Engine:
        """The projections built again from the log alone into the database at `url` (brought to
        this release's schema), as `govshare rebuild` does; `options` as the projector's
        (`as_of`: only what was recorded by then, as `replay` does)."""
        from infra.migrate import migrate_url
        from runtime.loop import Runner
        as_of = options.get("as_of")
        if as_of is not None and as_of.tzinfo is None:
            raise ValueError(f"as_of {as_of.isoformat()} has no time zone: give one (+08:00, Z)")
        migrate_url(url)
        engine = make_engine(url)
        projector = SYSTEM.stage("projector").build(wiring(
            "projector", self.settings, self.topics, None, engine=engine, clock=self.clock,
            policies=self.policies, **{**self.options, **options}))
        projector.start()
        inputs = set(SYSTEM.inputs("projector", self.topics))
        log = [m for m in self.runner.broker.order if m.topic in inputs]
        runner = Runner(projector, "rebuild", admits=projector.recorded_by_as_of)
        for i in range(0, len(log), 2000):
            runner.process(log[i:i + 2000])
        return engine

    def messages(self, topic: str) -> list:
        """What is on a topic now, in order."""
        return list(self.runner.broker.topics.get(topic, []))

    def close(self) -> None:
        for engine in self._engines.values():
            engine.dispose()


def simulate(lines: list[bytes], *, as_of: datetime, until: datetime | None = None,
             keys: Keystore | None = None) -> dict[str, Any]:
    """What the rules would say of these lines received at `as_of`, and (`until`) of the time
    passing after them: each line's verdict, and every legal limit the deadline engine started,
    met or let lapse. Nothing of a deployment is touched: a scratch database, throwaway stage
    and trail keys, and the shipped directory, each department given a key of its own for the
    simulation, which signs every line that carries no signature (`keys`: the departments'
    own instead)."""
    import tempfile
    from pathlib import Path

    from events.signing import DepartmentKey
    from processors.profiles import load_all
    from projections import queries

    with tempfile.TemporaryDirectory(prefix="govshare-simulate-") as scratch:
        home = Path(scratch)
        department_keys = home / "department-keys"
        department_keys.mkdir()
        for department in load_all().departments:
            DepartmentKey.generate(department).write(department_keys / f"{department}.pem")
        url = f"sqlite:///{home / 'simulation.db'}"
        settings = Settings(home=home, database_url=url, state_url=url, department_keys=department_keys,
                            stage_keys=home / "stage-keys", trail_key=home / "trail-key.pem")
        sim = Simulation(settings, as_of)
        try:
            results = sim.submit(lines, keys=keys or Keystore(department_keys))
            if until is not None:
                sim.advance(until)
            return {"as_of": as_of, "until": until, "results": results,
                    "deadlines": queries.deadline_list(sim.engine()),
                    "supervision": queries.supervision(sim.engine())}
        finally:
            sim.close()
