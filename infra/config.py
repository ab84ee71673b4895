"""Settings from the environment. With no GOVSHARE_BOOTSTRAP_SERVERS the service embeds Tansu."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from infra import environment as env


class SettingsError(ValueError):
    """A setting in the environment that govshare cannot use; the message names it."""


KAFKA_PREFIX = "GOVSHARE_KAFKA_"
# The librdkafka settings a deployment may hand every producer, consumer and admin client of
# govshare's as GOVSHARE_KAFKA_<NAME> (dots as underscores): those that reach a cluster secured
# with SASL/SCRAM over TLS (docs/security-and-identity.md "Securing the broker"), and a few of the connection. Any other
# name is refused when the settings are read: a misspelt GOVSHARE_KAFKA_SASL_PASWORD would
# otherwise be dropped silently and surface far away as an authentication failure.
KAFKA_SETTINGS = frozenset({
    "security.protocol", "sasl.mechanism", "sasl.mechanisms", "sasl.username", "sasl.password",
    "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.key.password",
    "ssl.endpoint.identification.algorithm", "client.id", "socket.keepalive.enable",
    "broker.address.family",
})


def _kafka_extra() -> dict[str, str]:
    """GOVSHARE_KAFKA_SECURITY_PROTOCOL=SASL_SSL -> security.protocol=SASL_SSL, and so on."""
    found = {k[len(KAFKA_PREFIX):].lower().replace("_", "."): v
             for k, v in os.environ.items() if k.startswith(KAFKA_PREFIX)}
    unknown = sorted(set(found) - KAFKA_SETTINGS)
    if unknown:
        names = ", ".join(KAFKA_PREFIX + name.upper().replace(".", "_") for name in unknown)
        raise SettingsError(f"{names}: not a Kafka client setting govshare passes on; known: "
                            + ", ".join(sorted(KAFKA_SETTINGS)))
    return found


def checkout() -> Path | None:
    """The source tree this package runs from (installed editable, or run inside it): the
    directory above infra/ holding govshare's pyproject.toml. None for an installed copy."""
    root = Path(__file__).resolve().parent.parent
    try:
        with (root / "pyproject.toml").open("rb") as f:
            named = tomllib.load(f).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return root if named == "govshare" else None


def default_home() -> tuple[Path, str]:
    """Where the service keeps its files when GOVSHARE_HOME is not set, and why there: the
    checkout's var/ (`make up` runs there), so the command line finds the service from any
    working directory; an installed copy has no checkout, and uses ./var."""
    root = checkout()
    if root is not None:
        return root / "var", f"var/ of the checkout {root}"
    return Path("var").absolute(), "var/ of the working directory"


def home_origin() -> str:
    """Which rule chose the home, for a message that names it."""
    return "set by GOVSHARE_HOME" if env.raw("GOVSHARE_HOME") else default_home()[1]


def never_created(url: str) -> bool:
    """A SQLite database whose file does not exist: no service has run there (and a reader
    that opened it would leave an empty file, and its directory, behind)."""
    return url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///").split("?")[0]).exists()


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: env.directory("GOVSHARE_HOME", str(default_home()[0])))
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

    # Which stages share an OS process, and how many of each (runtime/system.py, System.placement):
    # empty, the System's default. Checked where the processes start (infra/service.py).
    processes: str = field(default_factory=lambda: os.environ.get("GOVSHARE_PROCESSES", ""))

    # How long each processor gathers a batch after its first message: longer amortises per-batch
    # costs, shorter cuts latency. Under load a batch fills from the backlog at once whatever
    # this is; below it, 10 ms (with a 50 ms fetch wait) kept POST /v1/events at p50 29 ms and
    # p99 58 ms where 50 ms gave 79 and 188 (bench.submit).
    batch_window: float = field(
        default_factory=lambda: env.number("GOVSHARE_BATCH_WINDOW", "0.01", float, minimum=0))
    # How long a stage's fetch may wait at the broker when nothing new is there: shorter cuts an
    # event's time through an idle service, longer spares the broker answering empty fetches.
    fetch_wait: float = field(
        default_factory=lambda: env.number("GOVSHARE_FETCH_WAIT", "0.05", float, minimum=0.001))
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

    # The HTTP API (web/), one more process under `govshare up`, or alone: `govshare run api`.
    # Loopback by default: a deployment that serves other hosts says so.
    api_host: str = field(default_factory=lambda: env.host("GOVSHARE_API_HOST", "127.0.0.1"))
    api_port: int = field(default_factory=lambda: env.port("GOVSHARE_API_PORT", "8470"))
    # How long POST /v1/events waits for the verdicts before it answers 202 and where to poll.
    api_verdict_wait: float = field(
        default_factory=lambda: env.number("GOVSHARE_API_VERDICT_WAIT", "5", float, minimum=0.1))
    # The largest body POST /v1/events reads, in bytes (default 5 MiB = 5242880): counted while
    # the body streams in, so a larger one is refused (413 body-too-large) before it is held in
    # memory or parsed. A thousand events of the largest kind fit under it.
    api_body_max_bytes: int = field(
        default_factory=lambda: env.number("GOVSHARE_API_BODY_MAX_BYTES", "5242880", minimum=1024))
    # The most events one POST /v1/events may hold (default 1000): each one is published and
    # waited for within one request, so a larger batch is refused (413 batch-too-large) rather
    # than answered after the client has given up; send it as several requests.
    api_batch_max: int = field(default_factory=lambda: env.number("GOVSHARE_API_BATCH_MAX", "1000"))
    # Requests each API token may make per minute (default 600), with a burst of as many: above
    # it a caller is answered 429 rate-limited with Retry-After, so one department's runaway
    # client cannot take the API (and the broker behind it) from the others.
    api_rate_per_minute: int = field(default_factory=lambda: env.number("GOVSHARE_API_RATE_PER_MINUTE", "600"))
    # Webhooks (web/notifier.py): a delivery refused is tried again after base, 2 x base,
    # 4 x base ... seconds, never more than cap apart, and given up (marked failed) after
    # `attempts` tries: with the defaults, about 1 h 45 min of a receiver being down.
    webhook_backoff_base: float = field(
        default_factory=lambda: env.number("GOVSHARE_WEBHOOK_BACKOFF_BASE", "5", float, minimum=0.01))
    webhook_backoff_cap: float = field(
        default_factory=lambda: env.number("GOVSHARE_WEBHOOK_BACKOFF_CAP", "1800", float, minimum=0.01))
    webhook_attempts: int = field(default_factory=lambda: env.number("GOVSHARE_WEBHOOK_ATTEMPTS", "10"))
    # How often the notifier looks for new facts and due retries, and how long a receiver may
    # take to answer one delivery before the attempt counts as failed.
    webhook_poll_seconds: float = field(
        default_factory=lambda: env.number("GOVSHARE_WEBHOOK_POLL_SECONDS", "1", float, minimum=0.01))
    webhook_timeout: float = field(
        default_factory=lambda: env.number("GOVSHARE_WEBHOOK_TIMEOUT", "10", float, minimum=0.1))
    # Seconds a webhook secret replaced by POST /v1/subscriptions/{id}/secret keeps signing
    # beside the new one (default 86400, a day): long enough for a receiver to deploy the new
    # secret without refusing a delivery meanwhile; after it, only the new secret signs.
    webhook_secret_grace: float = field(
        default_factory=lambda: env.number("GOVSHARE_WEBHOOK_SECRET_GRACE", "86400", float, minimum=0))

    def __post_init__(self) -> None:
        if self.webhook_backoff_cap < self.webhook_backoff_base:
            raise env.SettingError("GOVSHARE_WEBHOOK_BACKOFF_CAP", f"{self.webhook_backoff_cap:g}",
                                   f"must be at least GOVSHARE_WEBHOOK_BACKOFF_BASE "
                                   f"({self.webhook_backoff_base:g})")

    @property
    def trail_key_file(self) -> Path:
        return self.trail_key or self.home / "trail-key.pem"

    # Where each stage's signing key and every stage's public key live (audit/keys.py).
    stage_keys: Path | None = field(default_factory=lambda: Path(os.environ["GOVSHARE_STAGE_KEYS"])
                                    if os.environ.get("GOVSHARE_STAGE_KEYS") else None)

    @property
    def stage_key_dir(self) -> Path:
        return self.stage_keys or self.home / "stage-keys"

    # Department keys (docs/security-and-identity.md "Identity"): the public keys (`<department>.pub`) the first
    # directory registers, and on the embedded default the platform administrator's private key
    # (`platform-admin.pem`), made on first start, which `govshare keygen` registers new keys with.
    department_keys: Path | None = field(default_factory=lambda: env.directory("GOVSHARE_DEPARTMENT_KEYS", "")
                                         if os.environ.get("GOVSHARE_DEPARTMENT_KEYS") else None)

    @property
    def department_key_dir(self) -> Path:
        return self.department_keys or self.home / "department-keys"

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

    def placement(self):
        """The processes to run: the System's placement, as GOVSHARE_PROCESSES says or by default."""
        from infra.system import SYSTEM
        try:
            return SYSTEM.placement(self.processes or None)
        except ValueError as exc:
            raise env.SettingError("GOVSHARE_PROCESSES", self.processes, str(exc)) from None

    def consumer_group(self, process) -> str:
        """The consumer group of a process of the placement (runtime.system.Process): every
        instance of it joins this one."""
        return f"{self.topic_prefix}-{process.name}"

    def stage_urls(self) -> dict[str, str]:
        from infra.system import SYSTEM
        return {stage: self.stage_url(stage) for stage in SYSTEM.names}

    @property
    def api_database_url(self) -> str:
        """The API's own tables (tokens, idempotent answers, subscriptions): beside the
        projections on PostgreSQL, a file of their own on SQLite (api.db)."""
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url
        return f"sqlite:///{self.home / 'api.db'}"

    @property
    def runtime_file(self) -> Path:
        return self.home / "broker.json"

    def kafka(self, bootstrap: str) -> dict[str, str]:
        return {"bootstrap.servers": bootstrap, **self.kafka_extra}
