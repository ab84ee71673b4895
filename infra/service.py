"""`govshare up`: the broker (embedded unless one is configured), the topics, every stage's
tables and keys, then every process of the placement under one supervisor, so that the stages
use every core.

Once prepared, this process becomes the supervisor (infra/supervisor.py): it restarts a
process that exits (with backoff) and stops them all on SIGTERM or SIGINT; each dies with it
even on `kill -9` (parent-death signal). Each process also runs alone: `govshare run
validator|deadlines+grants|notary+projector` (GOVSHARE_PROCESSES places them), and so does the
HTTP API: `govshare run api`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict

import structlog
from sqlalchemy import select

from events.publisher import Publisher
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.config import Settings
from infra.system import SYSTEM
from infra.database import make_engine
from infra.topics import ensure_topics
from infra.migrate import migrate
from infra.supervisor import Plan, become
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


def _embedded(settings: Settings) -> EmbeddedBroker:
    """An embedded Tansu, announced in the home's runtime file for the other commands."""
    settings.home.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker.start(log_file=settings.home / "tansu.log")
    settings.runtime_file.write_text(json.dumps(
        {"bootstrap": broker.bootstrap, "cluster_id": broker.cluster_id, "pid": os.getpid(),
         "broker_pid": broker.process.pid}))
    return broker


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


def run(settings: Settings) -> None:
    """Prepare the service, then become its supervisor (infra/supervisor.py: the same process,
    without the modules preparing needed)."""
    settings.placement()  # a GOVSHARE_PROCESSES that places no stage, or one twice, says so first
    embedded = None if settings.bootstrap_servers else _embedded(settings)
    bootstrap = settings.bootstrap_servers or embedded.bootstrap
    try:
        prepare(settings, bootstrap, rehydrating=embedded is not None)
        runs = children(settings)
        plan = Plan(bootstrap=bootstrap, home=str(settings.home), runs=runs, log_level=settings.log_level,
                    log_format=settings.log_format,
                    broker_pid=embedded.process.pid if embedded else None,
                    runtime_file=str(settings.runtime_file) if embedded else None,
                    ready=dict(bootstrap=bootstrap, projections=settings.projection_url.split("?")[0],
                               stages=list(SYSTEM.names), processes=[n for n in runs if n != API],
                               api=f"http://{settings.api_host}:{settings.api_port}/"))
        become(plan)  # returns only if the exec failed
    except BaseException:
        if embedded is not None:
            settings.runtime_file.unlink(missing_ok=True)
            embedded.stop()
        raise


def prepare(settings: Settings, bootstrap: str, *, rehydrating: bool) -> None:
    """The topics; every stage's tables at this release's schema, and every key, before any stage
    starts (a reader of the projections never meets a missing table or column, nor a stage a
    missing key, whichever stage comes up first); and, on a fresh embedded broker, the log."""
    kafka = settings.kafka(bootstrap)
    ensure_topics(kafka, Topics(settings.topic_prefix), settings.partitions, settings.replication_factor)
    for step in migrate(settings):
        if step.changed:  # not a line per database at every start
            log.info("database.migrated", **asdict(step))
    if rehydrating:
        publisher = Publisher(kafka)
        urls = [settings.stage_url(s) for s in SYSTEM.signing_stages()]
        log.info("broker.rehydrated", events=rehydrate(urls, publisher))
        publisher.close()
