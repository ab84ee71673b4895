"""Long commands show progress on stderr, a line every N records and one at the end, while
stdout keeps the one result line scripts read: rebuild, replay and verify on a small run."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import start_service, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def running(broker, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("progress")
    service = start_service(tmp_path, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                       "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        submitted = cli(service, "submit", str(ROOT / "examples" / "catalog.jsonl"))
        assert submitted.returncode == 1, submitted.stdout + submitted.stderr  # one accepted, one refused
        wait_for(lambda: _settled(service), 60, "the trail to be signed and projected")
        yield service, tmp_path
    finally:
        service.stop()


def cli(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _settled(service) -> bool:
    report = json.loads(cli(service, "verify", "--json").stdout)
    return report["intact"] and report["records"] >= 2 and not report["pending"]


def progress_of(done: subprocess.CompletedProcess, verb: str) -> list[int]:
    """The counts of the progress lines, checking their shape; the last line ends with `done`."""
    lines = done.stderr.splitlines()
    assert lines and lines[-1].endswith(", done"), done.stderr
    counts = []
    for line in lines:
        match = re.fullmatch(rf"govshare: (\d+) records {verb}(, done)?", line)
        assert match, line
        counts.append(int(match.group(1)))
    assert counts == sorted(counts), "progress only goes forward"
    return counts


def test_verify_shows_progress_and_keeps_its_report_on_stdout(running):
    service, _ = running
    done = cli(service, "verify", "--progress-every", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    records = int(re.match(r"INTACT: (\d+) trail records", done.stdout).group(1))
    counts = progress_of(done, "checked")
    assert counts[-1] == records and len(counts) >= 2  # at least one page, then the end
    quiet = cli(service, "verify")  # every 10,000 by default: only the last line here
    assert quiet.stderr == f"govshare: {records} records checked, done\n"
    assert quiet.stdout.splitlines()[0] == done.stdout.splitlines()[0]  # the same report for a script


def test_rebuild_and_replay_show_progress_and_keep_their_one_line(running):
    service, tmp_path = running
    for command, extra in (("rebuild", []), ("replay", ["--as-of", datetime.now(timezone.utc).isoformat()])):
        into = f"sqlite:///{tmp_path / f'{command}.db'}"
        done = cli(service, command, *extra, "--into", into, "--progress-every", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        [line] = done.stdout.splitlines()
        applied = int(re.match(r"applied (\d+) records", line).group(1))
        counts = progress_of(done, "applied")
        assert applied >= 2 and counts[-1] == applied and len(counts) >= 2
