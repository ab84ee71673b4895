"""What `govshare up` becomes once the service is prepared: a small process that starts every
process of the placement, restarts one that exits (with backoff), and stops them all, then the
embedded broker, on SIGTERM or SIGINT.

`govshare up` prepares the service with the whole of govshare loaded (the System, SQLAlchemy,
Alembic, the outboxes: infra/service.py), then replaces itself with this module (`exec`, the
same process id, its children kept), which loads only the standard library and structlog: the
supervisor stays up as long as the service does, and carrying 55 MiB of modules it never uses
again was a tenth of the service's resident memory (bench/ figures in the README). Each child
dies with it even on `kill -9` (parent-death signal, infra/broker.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

import structlog

from infra.broker import die_with_parent

log = structlog.get_logger("govshare.service")
# How the plan reaches the supervisor across the exec (not its command line, which `ps` shows).
PLAN = "GOVSHARE_SUPERVISOR_PLAN"


@dataclass(frozen=True)
class Plan:
    """What the prepared service hands the supervisor: where the broker is, the home its
    children share, what it runs (a child's name and the `govshare run` argument), the embedded
    broker to stop last (its process id and the file that announces it), how to log, and the
    `service.ready` line's fields."""
    bootstrap: str
    home: str
    runs: dict[str, str]
    log_level: int
    log_format: str
    ready: dict = field(default_factory=dict)
    broker_pid: int | None = None
    runtime_file: str | None = None

    def to_text(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_text(cls, text: str) -> Plan:
        return cls(**json.loads(text))


def become(plan: Plan) -> None:
    """Replace this process by the supervisor of `plan` (does not return)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "infra.supervisor"], {**os.environ, PLAN: plan.to_text()})


class Supervisor:
    """Runs each process of the placement as a child and restarts one that exits."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.runs = plan.runs
        self.children: dict[str, subprocess.Popen] = {}
        self.restarts: dict[str, int] = {name: 0 for name in self.runs}

    def start(self, name: str) -> None:
        env = {**os.environ, "GOVSHARE_BOOTSTRAP_SERVERS": self.plan.bootstrap, "GOVSHARE_HOME": self.plan.home}
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


def stop_broker(pid: int, timeout: float = 5.0) -> None:
    """The embedded broker, started before the exec and still this process's child: Tansu shuts
    down on SIGINT (SIGTERM leaves it hanging)."""
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            break
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    log.info("broker.stopped", pid=pid)


def supervise(plan: Plan) -> None:
    supervisor = Supervisor(plan)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        for name in supervisor.runs:
            supervisor.start(name)
        log.info("service.ready", **plan.ready)
        supervisor.watch(stop)
    finally:
        supervisor.stop()
        if plan.broker_pid is not None:
            stop_broker(plan.broker_pid)
        if plan.runtime_file is not None:
            try:
                os.unlink(plan.runtime_file)
            except FileNotFoundError:
                pass


if __name__ == "__main__":
    from infra import logs

    if PLAN not in os.environ:
        sys.exit("govshare: infra.supervisor is what `govshare up` becomes once the service is "
                 "prepared; run `govshare up`")
    plan = Plan.from_text(os.environ.pop(PLAN))  # the children's environment is the operator's
    logs.configure(plan.log_level, plan.log_format)
    supervise(plan)
