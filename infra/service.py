"""`govshare up`: the broker (embedded unless one is configured), the topics, and every stage as a
process of its own under one supervisor, so that the stages use every core.

The supervisor restarts a stage that exits (with backoff) and stops them all on SIGTERM or
SIGINT; each stage dies with it even on `kill -9` (parent-death signal). Each stage also runs
alone: `govshare run validator|deadlines|grants|notary|projector`, and so does the HTTP API:
`govshare run api`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict
from typing import Iterator

import structlog
from sqlalchemy import select

from events.publisher import Publisher
from events.topics import Topics
from infra.broker import EmbeddedBroker, die_with_parent
from infra.config import Settings
from infra.system import SYSTEM
from infra.database import make_engine
from infra.topics import ensure_topics
from infra.migrate import migrate
from runtime import store
from runtime.outbox import Outbox

log = structlog.get_logger("govshare.service")
# Beside the stages' processes the supervisor runs the HTTP API (no Kafka stage: it reads the
# projections and publishes as a submitter would).
API = "api"


def children(settings: Settings) -> dict[str, str]:
    """What the supervisor runs, each child's name and the `govshare run` argument it runs: every
    process of the placement (an instance number after a name that runs more than once), and
    the HTTP API."""
    found = {}
    for process in settings.placement():
        for i in range(1, process.instances + 1):
            found[process.name if process.instances == 1 else f"{process.name}#{i}"] = process.name
    return {**found, API: API}


@contextmanager
def broker_for(settings: Settings) -> Iterator[tuple[str, EmbeddedBroker | None]]:
    """The configured cluster, or an embedded Tansu for as long as the context lasts."""
    if settings.bootstrap_servers:
        yield settings.bootstrap_servers, None
        return
    settings.home.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker.start(log_file=settings.home / "tansu.log")
    settings.runtime_file.write_text(json.dumps(
        {"bootstrap": broker.bootstrap, "cluster_id": broker.cluster_id, "pid": os.getpid(),
         "broker_pid": broker.process.pid}))
    try:
        yield broker.bootstrap, broker
    finally:
        settings.runtime_file.unlink(missing_ok=True)
        broker.stop()


def rehydrate(urls: list[str], publisher: Publisher, chunk: int = 5000) -> int:
    """Replay every output the stages decided onto a fresh embedded broker, each outbox in its
    order.

    Tansu's memory storage starts empty; the outboxes hold every accepted event, rejection and
    dead letter, every event the engines emitted (deadlines, grants, violations) and every
    checkpoint, so publishing them again restores the log the stages read. A row the broker
    refuses for good is parked by the outbox, not retried at every start.
    """
    count = 0
    for url in dict.fromkeys(urls):
        engine = make_engine(url)  # its tables exist: migrate ran first
        last = 0
        while True:
            with engine.connect() as conn:
                rows = conn.execute(select(store.outbox).where(store.outbox.c.seq > last)
                                    .order_by(store.outbox.c.seq).limit(chunk)).all()
            if not rows:
                break
            _publish_rows(engine, publisher, rows)
            last = rows[-1].seq
            count += len(rows)
        engine.dispose()
    return count


def _publish_rows(engine, publisher: Publisher, rows) -> None:
    by_stage: dict[str, list] = {}
    for r in rows:
        by_stage.setdefault(r.stage, []).append((r.seq, store.as_outgoing(r)))
    for stage, staged in by_stage.items():
        Outbox(engine, publisher, stage).publish(staged)


class Supervisor:
    """Runs each stage as a child process and restarts one that exits."""

    def __init__(self, settings: Settings, bootstrap: str):
        self.settings, self.bootstrap = settings, bootstrap
        self.runs = children(settings)
        self.children: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {name: 0 for name in self.runs}

    def start(self, name: str) -> None:
        env = {**os.environ, "GOVSHARE_BOOTSTRAP_SERVERS": self.bootstrap,
               "GOVSHARE_HOME": str(self.settings.home)}
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "infra.cli", "run", self.runs[name]], env=env, preexec_fn=die_with_parent)
        log.info("stage.spawned", stage=name, pid=self.children[name].pid)

    def watch(self, stop: threading.Event) -> None:
        next_start: dict[str, float] = {}
        while not stop.wait(0.5):
            for name, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                if name not in next_start:
                    self.restarts[name] += 1
                    delay = min(2 ** min(self.restarts[name], 5), 30)
                    log.error("stage.exited", stage=name, code=code, restart_in=delay)
                    next_start[name] = time.monotonic() + delay
                elif time.monotonic() >= next_start[name]:
                    del next_start[name]
                    self.start(name)

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


def run(settings: Settings) -> None:
    settings.placement()  # a GOVSHARE_PROCESSES that places no stage, or one twice, says so first
    topics = Topics(settings.topic_prefix)
    with broker_for(settings) as (bootstrap, embedded):
        kafka = settings.kafka(bootstrap)
        ensure_topics(kafka, topics, settings.partitions, settings.replication_factor)
        # Every stage's tables, at this release's schema, and every key, before any stage
        # starts: a reader of the projections never meets a missing table or column, nor a
        # stage a missing key, whichever stage comes up first.
        for step in migrate(settings):
            if step.changed:  # not a line per database at every start
                log.info("database.migrated", **asdict(step))
        if embedded is not None:
            publisher = Publisher(kafka)
            urls = [settings.stage_url(s) for s in SYSTEM.signing_stages()]
            log.info("broker.rehydrated", events=rehydrate(urls, publisher))
            publisher.close()
        supervisor = Supervisor(settings, bootstrap)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            for name in supervisor.runs:
                supervisor.start(name)
            log.info("service.ready", bootstrap=bootstrap, projections=settings.projection_url.split("?")[0],
                     stages=list(SYSTEM.names), processes=[n for n in supervisor.runs if n != API],
                     api=f"http://{settings.api_host}:{settings.api_port}/")
            supervisor.watch(stop)
        finally:
            supervisor.stop()

