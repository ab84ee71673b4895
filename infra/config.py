"""Settings from the environment. With no GOVSHARE_BOOTSTRAP_SERVERS the service embeds Tansu."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from infra import environment as env


def _kafka_extra() -> dict[str, str]:
    # GOVSHARE_KAFKA_SECURITY_PROTOCOL=SASL_SSL -> security.protocol=SASL_SSL, and so on.
    return {k[len("GOVSHARE_KAFKA_"):].lower().replace("_", "."): v
            for k, v in os.environ.items() if k.startswith("GOVSHARE_KAFKA_")}


# The stages of the pipeline, each a process of its own under `govshare up`.
STAGES = ("validator", "deadlines", "grants", "notary", "projector")


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: env.directory("GOVSHARE_HOME", "var"))
    bootstrap_servers: str | None = field(
        default_factory=lambda: env.bootstrap_servers("GOVSHARE_BOOTSTRAP_SERVERS"))
    database_url: str | None = field(default_factory=lambda: env.database_url("GOVSHARE_DATABASE_URL"))
    state_url: str | None = field(default_factory=lambda: env.database_url("GOVSHARE_STATE_URL"))
    topic_prefix: str = field(default_factory=lambda: os.environ.get("GOVSHARE_TOPIC_PREFIX", "govshare"))
    partitions: int = field(default_factory=lambda: env.number("GOVSHARE_PARTITIONS", "3"))
    replication_factor: int = field(
        default_factory=lambda: env.number("GOVSHARE_REPLICATION_FACTOR", "1"))
    # Tansu joins a group in about half the session timeout: short ones keep start-up quick.
    session_timeout_s: float = field(
        default_factory=lambda: env.number("GOVSHARE_SESSION_TIMEOUT", "6", float, minimum=0.1))
    kafka_extra: dict[str, str] = field(default_factory=_kafka_extra)
    # `system`, or `file:PATH` holding an ISO instant: tests and drills move time by writing it.
    clock: str = field(default_factory=lambda: env.clock("GOVSHARE_CLOCK"))
    tick_seconds: float = field(
        default_factory=lambda: env.number("GOVSHARE_TICK_SECONDS", "1", float, minimum=0.01))

    trail_key: Path | None = field(
        default_factory=lambda: env.file_path("GOVSHARE_TRAIL_KEY", must_exist=False))
    # How long the trail may trail the log: the notary signs at least this often while busy.
    checkpoint_seconds: float = field(
        default_factory=lambda: env.number("GOVSHARE_CHECKPOINT_SECONDS", "0.5", float, minimum=0.01))

    # How long each processor gathers a batch: longer amortises per-batch costs, shorter cuts latency.
    batch_window: float = field(
        default_factory=lambda: env.number("GOVSHARE_BATCH_WINDOW", "0.05", float, minimum=0))
    # How long an access whose request is not decided yet waits for the decision (the approval
    # may still be on its way on another topic) before it is judged as it stands.
    access_wait_seconds: float = field(
        default_factory=lambda: env.number("GOVSHARE_ACCESS_WAIT_SECONDS", "60", float, minimum=0))
    # The department directory (read by processors.profiles), checked here so a wrong path is
    # one line at start-up rather than a stage failing over and over.
    departments: Path | None = field(
        default_factory=lambda: env.file_path("GOVSHARE_DEPARTMENTS", must_exist=True))
    # `console` for people (colours only on a terminal), `json` for a log collector.
    log_format: str = field(default_factory=lambda: env.choice("GOVSHARE_LOG_FORMAT", "console", env.LOG_FORMATS))
    log_level: int = field(default_factory=lambda: env.log_level("GOVSHARE_LOG_LEVEL"))

    @property
    def trail_key_file(self) -> Path:
        return self.trail_key or self.home / "trail-key.pem"

    @property
    def projection_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'govshare.db'}"

    @property
    def processor_url(self) -> str:
        # Separate SQLite files let the validator and projector write without waiting on each other.
        if self.state_url:
            return self.state_url
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url
        return f"sqlite:///{self.home / 'state.db'}"

    # A deployment's own read models: `module:function` names, comma-separated, each called as
    # function(event, connection) for every event the projector applies, after govshare's.
    extra_projections: tuple[str, ...] = field(
        default_factory=lambda: env.callables("GOVSHARE_EXTRA_PROJECTIONS"))

    def stage_url(self, stage: str) -> str:
        """Each stage's own database. On PostgreSQL they share one (their tables differ); on
        SQLite each stage process writes a file of its own, so none waits on another's lock."""
        if stage == "projector":
            return self.projection_url
        if stage == "validator" or self.state_url or (
                self.database_url and not self.database_url.startswith("sqlite")):
            return self.processor_url
        return f"sqlite:///{self.home / f'{stage}.db'}"

    def stage_urls(self) -> dict[str, str]:
        return {stage: self.stage_url(stage) for stage in STAGES}

    @property
    def runtime_file(self) -> Path:
        return self.home / "broker.json"

    def kafka(self, bootstrap: str) -> dict[str, str]:
        return {"bootstrap.servers": bootstrap, **self.kafka_extra}
