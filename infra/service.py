"""Wires broker, topics, validator, notary and projector into the running service (`govshare up`)."""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from typing import Iterator

import structlog
from sqlalchemy import select, update

from events.publisher import Publisher
from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.config import Settings
from infra.database import make_engine
from infra.keys import load_or_create
from infra.topics import cluster_id as read_cluster_id
from infra.topics import ensure_topics
from processors import store
from processors.clock import SystemClock, clock_from
from processors.grants import GrantKeeper
from processors.notary import Notary
from processors.profiles import load_all
from processors.scheduler import Scheduler
from processors.validator import Validator
from projections.runner import Projector

log = structlog.get_logger("govshare.service")


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


def rehydrate(state_engine, publisher: Publisher, chunk: int = 5000) -> int:
    """Replay every decided output onto a fresh embedded broker, in decision order.

    Tansu's memory storage starts empty; the processors' outbox holds every accepted event,
    rejection and dead letter and every event the processors emitted (deadlines, grants,
    violations), so publishing it again restores the log the projector and processors read.
    """
    count, last = 0, 0
    while True:
        with state_engine.connect() as conn:
            rows = conn.execute(select(store.outbox).where(store.outbox.c.seq > last)
                                .order_by(store.outbox.c.seq).limit(chunk)).all()
        if not rows:
            break
        publisher.publish(store.as_outgoing(r) for r in rows)
        last = rows[-1].seq
        count += len(rows)
    with state_engine.begin() as tx:
        tx.execute(update(store.outbox).where(store.outbox.c.published.is_(False))
                   .values(published=True))
    return count


def run(settings: Settings) -> None:
    topics = Topics(settings.topic_prefix)
    with broker_for(settings) as (bootstrap, embedded):
        kafka = settings.kafka(bootstrap)
        ensure_topics(kafka, topics, settings.partitions, settings.replication_factor)
        cluster = read_cluster_id(kafka)
        publisher = Publisher(kafka)
        state = make_engine(settings.processor_url)
        validator = Validator(state, load_all(), topics, cluster, publisher)
        scheduler = Scheduler(state, load_all(), topics, cluster, publisher)
        grants = GrantKeeper(state, load_all(), topics, cluster, publisher)
        if embedded is not None:
            log.info("broker.rehydrated", events=rehydrate(validator.engine, publisher))
        else:
            log.info("outbox.relayed", events=validator.outbox.relay_unpublished())
        projector = Projector(make_engine(settings.projection_url), topics, cluster, kafka)
        notary_publisher = Publisher(kafka)
        # The signing time attests when the trail was sealed: the real clock, not the
        # deadline engine's injectable one.
        notary = Notary(state, topics, cluster, notary_publisher, load_or_create(settings.trail_key_file),
                        SystemClock())
        stop = threading.Event()
        threads = [
            threading.Thread(target=projector.run, args=(stop,), name="projector", daemon=True),
            threading.Thread(target=notary.run, args=(kafka, stop),
                             kwargs=dict(interval=settings.checkpoint_seconds), name="notary", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            _run_worker(settings, topics, bootstrap, validator, scheduler, grants)
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
            publisher.close()
            notary_publisher.close()


def _run_worker(settings: Settings, topics: Topics, bootstrap: str, validator: Validator,
                scheduler: Scheduler, grants: GrantKeeper) -> None:
    import faust

    from processors.app import build_app

    app = build_app(app_id=f"{settings.topic_prefix}-validator", bootstrap=bootstrap, topics=topics,
                    validator=validator, scheduler=scheduler, grants=grants,
                    clock=clock_from(settings.clock),
                    tick_seconds=settings.tick_seconds, session_timeout=settings.session_timeout_s,
                    batch_window=settings.batch_window,
                    partitions=settings.partitions, replication=settings.replication_factor)
    log.info("service.ready", bootstrap=bootstrap, projections=settings.projection_url)
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        pass
