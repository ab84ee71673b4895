"""Creates govshare's topics from infra/topics.toml, so none is auto-created with default retention."""
from __future__ import annotations

import tomllib
from pathlib import Path

import structlog
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from events.topics import Topics
from infra.system import SYSTEM

log = structlog.get_logger("govshare.topics")
DEFINITIONS = Path(__file__).with_name("topics.toml")


def _kind(topics: Topics, name: str) -> str:
    if name in SYSTEM.inboxes(topics):
        return "inbox"
    if name == topics.trail:
        return "trail"
    return "deadletter" if name == topics.dead_letters else "events"


def definitions(topics: Topics, partitions: int, replication: int) -> list[NewTopic]:
    spec = tomllib.loads(DEFINITIONS.read_text())
    result = []
    for name in SYSTEM.all_topics(topics):
        config = dict(spec["kinds"][_kind(topics, name)])
        count = int(config.pop("partitions", 0)) or partitions or spec["defaults"]["partitions"]
        if replication < 2:
            config.pop("min.insync.replicas", None)  # a single broker cannot have two replicas
        result.append(NewTopic(name, count, replication, config=config))
    return result


def ensure_topics(kafka: dict[str, str], topics: Topics, partitions: int, replication: int) -> None:
    admin = AdminClient(kafka)
    futures = admin.create_topics(definitions(topics, partitions, replication), request_timeout=15)
    for name, future in futures.items():
        try:
            future.result()
            log.info("topic.created", topic=name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def cluster_id(kafka: dict[str, str]) -> str:
    return AdminClient(kafka).list_topics(timeout=10).cluster_id
