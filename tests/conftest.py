"""Fixtures: one real embedded broker per test session, real databases, the real service."""
from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import pytest
from sqlalchemy.pool import NullPool
from sqlalchemy import create_engine, text

from events.topics import Topics
from infra.broker import EmbeddedBroker
from infra.database import make_engine

PG_ADMIN_URL = os.environ.get("GOVSHARE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# Departments some tests add to a directory of their own (tests/test_request_review.py).
TEST_ONLY_DEPARTMENTS = ("gd08-provider", "gd08-user", "gd08-authority")


def _department_keys() -> Path:
    """One signing key per department for the whole test session, made before any service
    starts: every service the tests run registers their public keys in its first directory
    (GOVSHARE_DEPARTMENT_KEYS), and every submission is signed with the acting department's
    (GOVSHARE_SIGNING_KEYS), as a department's own system would."""
    import tempfile

    from events.signing import DepartmentKey
    from processors.profiles import load_all
    directory = Path(tempfile.mkdtemp(prefix="govshare-test-keys-"))
    for department in (*load_all().departments, *TEST_ONLY_DEPARTMENTS):
        DepartmentKey.generate(department).write(directory / f"{department}.pem")
    return directory


if "GOVSHARE_SIGNING_KEYS" not in os.environ:
    os.environ["GOVSHARE_SIGNING_KEYS"] = os.environ["GOVSHARE_DEPARTMENT_KEYS"] = str(_department_keys())
KEYS = Path(os.environ["GOVSHARE_SIGNING_KEYS"])


# The instant every clock-driven test starts its clock at, and no test reads today's date: the
# verdicts depend on it only through the calendar. GOVSHARE_TEST_EPOCH moves it, and
# tests/test_date_sweep.py runs the clock-driven scenarios at a year end, a quarter end, the
# Spring Festival and a weekend worked in lieu (调休).
EPOCH = datetime.fromisoformat(os.environ.get("GOVSHARE_TEST_EPOCH", "2026-11-20T02:00:00+00:00"))


def wait_for(condition: Callable[[], object], timeout: float = 30.0, what: str = "condition"):
    """Poll until condition() is truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="session")
def browser():
    """Headless chromium for the whole session (tests/browser.py)."""
    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `make install` puts it there where apt-get can run as root")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def broker():
    started = EmbeddedBroker.start()
    yield started
    started.stop()


def _postgres_answers() -> bool:
    try:
        with create_engine(PG_ADMIN_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


@contextmanager
def fresh_database(kind: str, directory: Path, *, migrated: bool = False) -> Iterator[str]:
    """A fresh, empty database of `kind`: a SQLite file in `directory`, or a PostgreSQL schema
    of its own, dropped afterwards (skipped only when PostgreSQL does not answer).
    `migrated`: on PostgreSQL, a database of its own copied from one this process migrated to
    the head once (a copy takes a tenth of the time migrating takes); a SQLite file is
    migrated by its first user, which costs little."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'govshare.db'}"
        return
    if not _postgres_answers():
        pytest.skip(f"PostgreSQL does not answer at {PG_ADMIN_URL}")
    if migrated:
        with _copy_of_migrated() as url:
            yield url
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


_PG_BASE = PG_ADMIN_URL.rsplit("/", 1)[0]
_TEMPLATE: list[str] = []  # the migrated PostgreSQL database this process copies, once made


def _migrated_template() -> str:
    if not _TEMPLATE:
        from infra.migrate import migrate_url
        name = f"tmpl_{uuid.uuid4().hex[:12]}"
        _admin_execute(f'create database "{name}"')
        atexit.register(_admin_execute, f'drop database if exists "{name}" with (force)')
        # The branches the in-memory runner keeps in one database (tests/harness.py).
        migrate_url(f"{_PG_BASE}/{name}", ("runtime", "processors", "projections"))
        _TEMPLATE.append(name)
    return _TEMPLATE[0]


@contextmanager
def _copy_of_migrated() -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'create database "{name}" template "{_migrated_template()}"')
    try:
        yield f"{_PG_BASE}/{name}"
    finally:
        _admin_execute(f'drop database if exists "{name}" with (force)')


def _admin_execute(statement: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database of each kind: a SQLite file, or a PostgreSQL schema."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def harness(request, tmp_path):
    """govshare's System on the in-memory runner over a fresh database of each kind, at this
    release's schema (tests/harness.py)."""
    from tests.harness import Harness
    with fresh_database(request.param, tmp_path, migrated=True) as url:
        found = Harness(url, tmp_path / "home")
        try:
            yield found
        finally:
            found.sim.close()


system = harness  # the name the given/when/then tests use


@dataclass
class Service:
    """A running `govshare up` process pointed at the session's broker."""
    process: subprocess.Popen
    env: dict[str, str]
    topics: Topics
    kafka: dict[str, str]
    database_url: str
    log: Path
    api_url: str = ""  # the HTTP API under this `govshare up`: http://127.0.0.1:PORT

    def engine(self):
        """The projections as a reader sees them (read-only: no write lock held while polling)."""
        return make_engine(self.database_url, read_only=True)

    @property
    def settings(self):
        from infra.config import Settings
        return Settings(home=Path(self.env["GOVSHARE_HOME"]), topic_prefix=self.topics.prefix)

    def projector(self, url: str):
        """A projector of this deployment's log into the database at `url`, with its keys (as
        `govshare rebuild` builds it)."""
        from infra.stages import projector
        return projector(url, self.settings, self.topics)

    def rebuild(self, url: str, timeout: float = 60):
        """The projections rebuilt from this deployment's log into `url`; their engine."""
        from infra.system import SYSTEM
        from projections.runner import catch_up
        found = self.projector(url)
        catch_up(found, SYSTEM.inputs("projector", self.topics), self.kafka, "copy", timeout=timeout)
        return found.engine

    def api_answers(self, timeout: float = 60) -> None:
        """Wait until the HTTP API (a process of its own under `govshare up`) answers."""
        import urllib.request

        def up() -> bool:
            try:
                with urllib.request.urlopen(self.api_url + "/healthz", timeout=2) as got:
                    return got.status == 200
            except OSError:
                return False
        wait_for(up, timeout, "the HTTP API to answer")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_service(tmp_path: Path, env_extra: dict[str, str]) -> Service:
    prefix = env_extra.get("GOVSHARE_TOPIC_PREFIX", "")
    log = tmp_path / f"service-{uuid.uuid4().hex[:6]}.log"
    # A port of its own for the HTTP API: never the default one another run may hold.
    env = {**os.environ, "GOVSHARE_HOME": str(tmp_path / "home"), "GOVSHARE_API_PORT": str(free_port()),
           **env_extra}
    process = subprocess.Popen([sys.executable, "-m", "infra.cli", "up"], env=env,
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                               cwd=Path(__file__).resolve().parent.parent)
    wait_for(lambda: "service.ready" in log.read_text(errors="replace") or process.poll() is not None,
             60, "the service to start")
    if process.poll() is not None:
        raise AssertionError(f"govshare up exited:\n{log.read_text(errors='replace')}")
    bootstrap = env_extra.get("GOVSHARE_BOOTSTRAP_SERVERS") or _embedded_bootstrap(tmp_path)
    return Service(process, env, Topics(prefix or "govshare"), {"bootstrap.servers": bootstrap},
                   env.get("GOVSHARE_DATABASE_URL", f"sqlite:///{tmp_path / 'home' / 'govshare.db'}"),
                   log, f"http://127.0.0.1:{env['GOVSHARE_API_PORT']}")


def free_port() -> int:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _embedded_bootstrap(tmp_path: Path) -> str:
    import json
    return json.loads((tmp_path / "home" / "broker.json").read_text())["bootstrap"]


@contextmanager
def running_service(kind: str, broker, tmp_path: Path, env: dict[str, str]) -> Iterator[Service]:
    """A `govshare up` on the session's broker over a fresh database of `kind` (sqlite, or a
    PostgreSQL schema of its own, skipped only when PostgreSQL does not answer), its HTTP API
    answering: for a module's fixture that runs one scenario per database kind."""
    env = {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
           **env}
    with fresh_database(kind, tmp_path / "home") as url:
        if kind == "postgresql":  # SQLite: the home's own database, where `govshare up` keeps it
            env["GOVSHARE_DATABASE_URL"] = url
        service = start_service(tmp_path, env)
        try:
            service.api_answers()
            yield service
        finally:
            service.stop()


@pytest.fixture
def service(broker, database_url, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:10]}"
    running = start_service(tmp_path, {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
        "GOVSHARE_TOPIC_PREFIX": prefix,
        "GOVSHARE_DATABASE_URL": database_url,
    })
    yield running
    running.stop()
