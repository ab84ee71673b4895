"""govshare's whole System on the in-memory runner (infra/simulation.py) over a real database, on
the test's clock: what the rule and workflow tests run on. No broker, no process: a submission
runs through the validator, the deadline engine, the grant keeper, the notary and the projector
before `submit` returns, and the clock moves only when the test moves it.

    def test_a_refusal_without_legal_basis_is_rejected(system):
        system.given(registered(entry, share_type="CONDITIONAL", legal_basis=LAW))
        [refused] = system.when(answered(req, agrees=False, legal_basis=None))
        assert refused["rule"] == "refusal-needs-legal-basis"
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from events.codec import Event, decode_message, event_identity
from infra.config import Settings
from infra.simulation import Simulation
from infra.system import SYSTEM
from runtime.loop import Runner
from runtime.message import Incoming
from tests.builders import lines, new_id

ROOT = Path(__file__).resolve().parent.parent
# The instant the harness's clock starts at, unless a test gives another.
T0 = datetime(2026, 9, 25, 2, 0, tzinfo=timezone.utc)


class Harness:
    """Each submit runs every stage; ticks and the clock are the test's."""

    def __init__(self, database_url: str, home: Path, policies=None, at: datetime = T0):
        settings = Settings(home=home, database_url=database_url, state_url=database_url,
                            topic_prefix=f"d{new_id('')[1:]}")
        self.sim = Simulation(settings, at, policies=policies)
        self.topics = self.sim.topics
        self.database_url = database_url

    # -- given, when -----------------------------------------------------------------------

    def results(self, *events: dict[str, Any], at: datetime | None = None) -> list[dict[str, Any]]:
        """Each event's answer, as `govshare submit` prints it (status, rule, article, error)."""
        return self.sim.submit(lines(*events), at=at)

    def given(self, *events: dict[str, Any], at: datetime | None = None) -> list[dict[str, Any]]:
        """Facts the test stands on: each must be accepted, or the test is wrong, not the code."""
        found = self.results(*events, at=at)
        assert [r["status"] for r in found] == ["accepted"] * len(events), \
            [(r.get("rule"), r.get("error")) for r in found]
        return found

    def when(self, *events: dict[str, Any], at: datetime | None = None) -> list[dict[str, Any]]:
        return self.results(*events, at=at)

    def submit(self, *events: dict[str, Any], at: datetime | None = None) -> list[Incoming]:
        """The validator's answer to each event, as the message it published (accepted event,
        rejection or dead letter), in the order submitted."""
        start = len(self.sim.runner.broker.order)
        found = self.results(*events, at=at)
        answers = {t for t in SYSTEM.writes("validator", self.topics)}
        published = [m for m in self.sim.runner.broker.order[start:] if m.topic in answers]
        return [_answer(published, r) for r in found]

    def advance(self, to: datetime) -> int:
        """The clock moves to `to`; every stage's timer fires and what it emits runs through."""
        return self.sim.advance(to)

    # -- the stages, as the System built them ---------------------------------------------------

    @property
    def scheduler(self):
        return self.sim.runner.stages["deadlines"]

    @property
    def grants(self):
        return self.sim.runner.stages["grants"]

    @property
    def engine(self):
        return self.sim.engine()

    def restart(self, name: str = "deadlines", build=None) -> None:
        """A new instance of a stage over the same database: what a restarted worker would be
        (`build(wiring)`: made otherwise, a calendar of the test's, say)."""
        self.sim.runner.restart(name, build)

    def another(self, name: str = "deadlines"):
        """A second worker of a stage, over the same database and broker, beside the first."""
        return self.sim.runner.system.stage(name).build(self.sim.runner.wirings[name])

    @staticmethod
    def feed(stage, messages: list[Incoming]) -> list:
        """Run a stage over messages on the runtime, as the service does; returns its outputs."""
        return [out for _, out in Runner(stage, "c", wanted=SYSTEM.wanted(stage.name)).process(messages)]

    # -- then ------------------------------------------------------------------------------

    def project(self):
        """The projections, with everything published so far applied."""
        self.sim.runner.run()
        return self.sim.engine()

    def emitted(self, aggregate: str) -> list[Event]:
        """Events the stages emitted for an aggregate type, in order."""
        return [decode_message(m.headers, m.value) for m in self.sim.messages(self.topics.of_aggregate(aggregate))]

    def deadline_events(self) -> list[Event]:
        return self.emitted("deadline")

    def types(self) -> list[str]:
        return [e.envelope.event_type for e in self.deadline_events()]

    def parked(self) -> list[dict[str, Any]]:
        return self.sim.runner.parked()

    def rebuild(self, url: str, **options):
        """The projections rebuilt from the log into `url` (`as_of`: a replay); their engine."""
        return self.sim.rebuild(url, **options)

    def checkpoints(self) -> tuple[list, int]:
        """The signed checkpoints on the trail topic, and how many messages there were none."""
        from infra.anchor import checkpoints_in
        found = checkpoints_in(self.sim.messages(self.topics.trail))
        return found.checkpoints, found.foreign

    # -- the command line, over this deployment's databases (no broker: what needs none) --

    @property
    def env(self) -> dict[str, str]:
        settings = self.sim.settings
        env = {k: v for k, v in os.environ.items() if k != "GOVSHARE_BOOTSTRAP_SERVERS"}
        return {**env, "GOVSHARE_HOME": str(settings.home), "GOVSHARE_DATABASE_URL": self.database_url,
                "GOVSHARE_STATE_URL": self.database_url, "GOVSHARE_TOPIC_PREFIX": settings.topic_prefix}

    def cli(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "infra.cli", *args], env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done


def _answer(published: list[Incoming], result: dict[str, Any]) -> Incoming | None:
    """The message that answered one submitted line (None: the line was invalid)."""
    event_id = result.get("event_id")
    for m in published:
        headers = {k: (v or b"").decode("utf-8", "replace") for k, v in m.headers}
        said = str(event_identity(headers["ce_id"], headers.get("ce_source", ""))[0]) if "ce_id" in headers else None
        if event_id in (headers.get("ce_causationid"), said):
            return m
    return None


def verdicts(outputs) -> list[str]:
    """What the validator answered to each event: "accepted", or the rule it broke."""
    return [getattr(decode_message(o.headers, o.value).payload, "rule", "accepted") for o in outputs]
