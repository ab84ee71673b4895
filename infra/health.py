"""`govshare health`: what an operator asks of a running service, stage by stage: how far each
is behind the log (consumer lag), how many events it parked, how many accesses wait for their
request's decision."""
from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import func, inspect, select

from events.topics import Topics
from infra.config import Settings
from infra.database import make_engine
from infra.stages import bootstrap
from infra.system import SYSTEM
from infra.topics import cluster_id as read_cluster_id
from processors import store as processor_store
from runtime import parking
from runtime import store


def report(settings: Settings) -> dict[str, Any]:
    topics = Topics(settings.topic_prefix)
    kafka = settings.kafka(bootstrap(settings))
    cluster = read_cluster_id(kafka)
    ends = _ends(kafka, SYSTEM.all_topics(topics))
    stages = []
    for name in SYSTEM.names:
        url = settings.stage_url(name)
        engine = make_engine(url, read_only=True)
        with engine.connect() as conn:
            present = inspect(conn).has_table(store.positions.name)
            stored = store.stored_positions(conn, name, cluster) if present else {}
            waiting = conn.scalar(select(func.count()).select_from(processor_store.waiting_accesses)) \
                if name == "grants" and present else 0
        lag = sum(max(0, end - stored.get(tp, 0)) for tp, end in ends.items()
                  if tp[0] in SYSTEM.inputs(name, topics))
        parked = parking.counts(engine).get(name, 0) if present else 0
        stages.append({"stage": name, "lag": lag, "parked": parked, "waiting": waiting,
                       "database": url.split("?")[0]})
        engine.dispose()
    return {"ok": not any(s["parked"] for s in stages), "cluster_id": cluster, "stages": stages}


def _ends(kafka: dict[str, str], names: list[str]) -> dict[tuple[str, int], int]:
    consumer = Consumer({**kafka, "group.id": "govshare-health", "enable.auto.commit": False})
    try:
        known = consumer.list_topics(timeout=10).topics
        return {(t, p): consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1]
                for t in names if t in known for p in known[t].partitions}
    finally:
        consumer.close()
