"""Each stage built from the settings and run on the runtime (`govshare run STAGE`).

A stage is one process: the validator, the deadline engine and the grant keeper join a
consumer group each, so a deployment scales them out over the inbox and event partitions by
starting more; the notary and the projector read every partition and run once per deployment
(a trail has one order; a projection one writer).
"""
from __future__ import annotations

import gc
import importlib
import json
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

import structlog

from events.publisher import Publisher
from events.topics import Topics
from infra.config import STAGES, Settings
from infra.database import make_engine
from events.trail import origin_of
from infra import keys
from infra.topics import cluster_id as read_cluster_id
from processors.clock import clock_from
from processors.grants import GrantKeeper
from processors.notary import Notary
from processors.profiles import load_all
from processors.scheduler import Scheduler
from processors.validator import Validator
from projections.runner import Projector
from runtime import loop

log = structlog.get_logger("govshare.stage")
GROUPED = ("validator", "deadlines", "grants")  # several may run, sharing partitions


@dataclass
class Built:
    stage: loop.Stage
    tick: Callable[[], int] | None = None
    batch: int = 500
    window: float = 0.05


def build(name: str, settings: Settings, topics: Topics, publisher: Publisher | None) -> Built:
    engine = make_engine(settings.stage_url(name))
    # Its own signing key (none for the projector) and every stage's public key.
    stage_keys = keys.stage_keys(settings.stage_key_dir, name)
    # One clock for every stage: the real one, or the one a test or a replay injects.
    clock = clock_from(settings.clock)
    if name == "validator":
        return Built(Validator(engine, load_all(), topics, publisher, keys=stage_keys,
                               department_keys=settings.department_key_dir, clock=clock),
                     window=settings.batch_window)
    if name == "deadlines":
        scheduler = Scheduler(engine, load_all(), topics, publisher, keys=stage_keys)
        return Built(scheduler, lambda: scheduler.tick(clock.now()), window=settings.batch_window)
    if name == "grants":
        keeper = GrantKeeper(engine, load_all(), topics, publisher,
                             access_wait=timedelta(seconds=settings.access_wait_seconds), keys=stage_keys)
        return Built(keeper, lambda: keeper.tick(clock.now()), window=settings.batch_window)
    if name == "notary":
        # The signing time attests when the trail was sealed. A checkpoint per 2,000 records or
        # per interval.
        notary = Notary(engine, topics, publisher, keys.load_or_create(settings.trail_key_file), clock,
                        keys=stage_keys)
        return Built(notary, batch=2000, window=settings.checkpoint_seconds)
    if name == "projector":
        extra = tuple(_named(spec) for spec in settings.extra_projections)
        return Built(projector(engine, settings, topics, extra=extra), batch=2000, window=settings.batch_window)
    raise ValueError(f"no stage {name!r}: one of {', '.join(STAGES)}")


def projector(engine, settings: Settings, topics: Topics, **options) -> Projector:
    """The projector with the deployment's keys: every record checked against the stage keys,
    every checkpoint against the trail key ring (`govshare up`, `replay`, `rebuild`)."""
    return Projector(engine, topics, ring=keys.stage_keys(settings.stage_key_dir, None).ring,
                     trail_keys=lambda: keys.ring_keys(settings.trail_key_file,
                                                       origin_of(settings.topic_prefix)), **options)


def _named(spec: str) -> Callable:
    module, _, function = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"govshare: GOVSHARE_EXTRA_PROJECTIONS names {spec!r}, which does not load: {exc}") from None


def bootstrap(settings: Settings) -> str:
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    try:
        return json.loads(settings.runtime_file.read_text())["bootstrap"]
    except FileNotFoundError:
        raise SystemExit(f"govshare: no broker: set GOVSHARE_BOOTSTRAP_SERVERS or start "
                         f"`govshare up` (looked for {settings.runtime_file})") from None


def run(name: str, settings: Settings) -> None:
    """Run one stage in the foreground until SIGTERM or SIGINT."""
    topics = Topics(settings.topic_prefix)
    kafka = settings.kafka(bootstrap(settings))
    cluster = read_cluster_id(kafka)
    publisher = Publisher(kafka)
    built = build(name, settings, topics, publisher)
    stage = built.stage
    group = f"{settings.topic_prefix}-{name}"
    if name in GROUPED:
        consumer = loop.subscribed(kafka, group, topics.subscription(name), stage.engine, name, cluster,
                                   settings.session_timeout_s)
    else:
        consumer = loop.assigned(kafka, group, stage.inputs(), stage.engine, name, cluster)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = loop.Runner(stage, cluster, batch=built.batch, window=built.window, tick=built.tick,
                         tick_seconds=settings.tick_seconds)
    # A stage allocates a few short-lived objects per message and keeps long-lived ones (modules,
    # schemas, policies): moved out of the collector's sight, and young collections made rarer,
    # the collector cost 10-20% less CPU per event in the profile (bench/ notes in the README).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    log.info("stage.started", stage=name, database=settings.stage_url(name).split("?")[0])
    try:
        runner.run(consumer, stop)
    finally:
        publisher.close()
        log.info("stage.stopped", stage=name)
