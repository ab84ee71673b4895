"""Each stage of the System (infra/system.py) wired from the settings and run on the Kafka runner
(`govshare run PROCESS`), in the processes the placement says (GOVSHARE_PROCESSES).

A process runs one stage or several over one consumer: the validator, the deadline engine and
the grant keeper join consumer groups (a process kind's group), so a deployment scales them out
over the inbox and event partitions by starting more instances; the notary and the projector
read every partition and run once per deployment (a trail has one order; a projection one
writer).
"""
from __future__ import annotations

import gc
import importlib
import json
import signal
import threading
from typing import Callable

import structlog

from events import signing
from events.publisher import Publisher
from events.topics import Topics
from audit import keys
from audit.trail import Records
from infra.config import Settings
from infra.database import make_engine
from infra.system import SYSTEM
from infra.topics import cluster_id as read_cluster_id
from runtime.clock import clock_from
from processors.profiles import load_all
from projections.runner import Projector
from runtime import loop
from runtime.system import Process, Wiring

log = structlog.get_logger("govshare.stage")


def wiring(name: str, settings: Settings, topics: Topics, publisher, *, engine=None, clock=None,
           policies=None, ring=None, **options) -> Wiring:
    """What the deployment gives stage `name`: its database, its signing key and every stage's
    public key (`ring`: the one its process shares, if it does), the one clock (the settings',
    unless a caller drives its own), the policy profiles and directory, the settings."""
    options.setdefault("extra", tuple(_named(spec) for spec in settings.extra_projections))
    return Wiring(engine=engine or make_engine(settings.stage_url(name)), publisher=publisher, topics=topics,
                  keys=keys.stage_keys(settings.stage_key_dir, name if name in SYSTEM.signing_stages() else None,
                                       writers=SYSTEM.writers(topics), ring=ring),
                  clock=clock or clock_from(settings.clock), policies=policies or load_all(),
                  settings=settings, options=options)


def projector(url: str, settings: Settings, topics: Topics, **options) -> Projector:
    """The projector with the deployment's keys, into the database at `url` (brought to this
    release's schema first): every record checked against the stage keys, every checkpoint
    against the trail key ring (`govshare rebuild`, `replay`)."""
    from infra.migrate import migrate_url
    migrate_url(url)
    return SYSTEM.stage("projector").build(wiring("projector", settings, topics, None,
                                                  engine=make_engine(url), **options))


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
    """Run one process of the deployment's placement (`deadlines+grants`, or any single stage)
    in the foreground until SIGTERM or SIGINT: the Kafka runner, one consumer for its stages."""
    process = _process(name, settings)
    topics = Topics(settings.topic_prefix)
    kafka = settings.kafka(bootstrap(settings))
    cluster = read_cluster_id(kafka)
    publisher = Publisher(kafka)
    alone = len(process.stages) == 1
    # What the stages of one process do once for all of them: check a message's stage
    # signature (one ring), and make its trail record (the projector's, sealed by the notary).
    shared = {} if alone else {"ring": keys.stage_ring_of(settings.stage_key_dir, SYSTEM.writers(topics),
                                                          shared=True), "records": Records()}
    runners = [_runner(stage, settings, topics, publisher, cluster, alone=alone, **shared)
               for stage in process.stages]
    group = settings.consumer_group(process)
    if SYSTEM.stage(process.stages[0]).grouped:
        subscription = [t for stage in process.stages for t in SYSTEM.subscription(stage, topics)]
        consumer = loop.subscribed(kafka, group, list(dict.fromkeys(subscription)), runners, cluster,
                                   settings.session_timeout_s, fetch_wait=settings.fetch_wait)
    else:
        inputs = [t for stage in process.stages for t in SYSTEM.inputs(stage, topics)]
        consumer = loop.assigned(kafka, group, list(dict.fromkeys(inputs)), runners, cluster,
                                 fetch_wait=settings.fetch_wait)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # A stage allocates a few short-lived objects per message and keeps long-lived ones (modules,
    # schemas, policies): moved out of the collector's sight, and young collections made rarer,
    # the collector cost 10-20% less CPU per event in the profile (bench/ notes in the README).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    for stage in process.stages:
        log.info("stage.started", stage=stage, database=settings.stage_url(stage).split("?")[0])
    try:
        loop.run_together(runners, consumer, stop)
    finally:
        publisher.close()
        log.info("stage.stopped", stage=process.name, verifies=signing.OPERATIONS["verify"],
                 signs=signing.OPERATIONS["sign"],
                 batches={r.stage.name: f"{r.batches}/{r.messages}" for r in runners})


def _process(name: str, settings: Settings) -> Process:
    """The process `name` of the deployment's placement, or a stage run alone; SystemExit with
    the names there are for anything else."""
    placed = settings.placement()
    for process in placed:
        if process.name == name:
            return process
    if name in SYSTEM.names:
        return Process((name,))
    raise SystemExit(f"govshare: no process {name!r}: this deployment runs "
                     f"{', '.join(p.name for p in placed)} (GOVSHARE_PROCESSES), or any one stage "
                     f"of {', '.join(SYSTEM.names)} alone")


def _runner(name: str, settings: Settings, topics: Topics, publisher: Publisher, cluster: str, *,
            alone: bool, **shared) -> loop.Runner:
    spec = SYSTEM.stage(name)
    w = wiring(name, settings, topics, publisher, **shared)
    stage = spec.build(w)
    # The notary seals per 2,000 records or per checkpoint interval; the others gather a batch
    # for the batch window.
    window = settings.checkpoint_seconds if name == "notary" else settings.batch_window
    return loop.Runner(stage, cluster, wanted=SYSTEM.wanted(name), batch=spec.batch, window=window,
                       tick=(lambda: stage.tick(w.clock.now())) if spec.ticks else None,
                       tick_seconds=settings.tick_seconds, reads=None if alone else SYSTEM.reader(name, topics))
