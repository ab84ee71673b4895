"""Long commands show progress on stderr, a line every N records and one at the end, while
stdout keeps the one result line scripts read: rebuild, replay and verify on a small run.

`verify` reads the trail from the database: on the in-memory harness (tests/harness.py), both
databases, `verify --offline` (the trail topic is a broker's; the progress is the walk of the
database's trail either way). `rebuild` and `replay` read the log from the broker, so their test
runs against one real `govshare up` for the module (the session's broker, its SQLite database).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from datetime import timezone
from pathlib import Path

import pytest

from projections import queries
from tests.conftest import EPOCH, start_service, wait_for

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "catalog.jsonl"  # two registrations: one accepted, one refused


@pytest.fixture(scope="module")
def running(broker, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("progress")
    service = start_service(tmp_path, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                       "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"})
    try:
        submitted = cli(service, "submit", str(EXAMPLE))
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


def test_verify_shows_progress_and_keeps_its_report_on_stdout(harness):
    results = harness.sim.submit(EXAMPLE.read_text(encoding="utf-8").splitlines(), at=EPOCH)
    assert [r["status"] for r in results] == ["accepted", "rejected"]
    done = harness.cli("verify", "--offline", "--progress-every", "1")
    records = int(re.match(r"INTACT: (\d+) trail records", done.stdout).group(1))
    assert records >= 2
    counts = progress_of(done, "checked")
    assert counts[-1] == records and len(counts) >= 2  # at least one page, then the end
    quiet = harness.cli("verify", "--offline")  # every 10,000 by default: only the last line here
    assert quiet.stderr == f"govshare: {records} records checked, done\n"
    assert quiet.stdout.splitlines()[0] == done.stdout.splitlines()[0]  # the same report for a script


def test_rebuild_and_replay_show_progress_and_keep_their_one_line(running):
    service, tmp_path = running
    # As of the newest signed checkpoint: every record the service made so far.
    signed_at = queries.trail_status(service.engine())["checkpoint"]["signed_at"]
    as_of = (signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=timezone.utc)).isoformat()
    for command, extra in (("rebuild", []), ("replay", ["--as-of", as_of])):
        into = f"sqlite:///{tmp_path / f'{command}.db'}"
        done = cli(service, command, *extra, "--into", into, "--progress-every", "1")
        assert done.returncode == 0, done.stdout + done.stderr
        [line] = done.stdout.splitlines()
        applied = int(re.match(r"applied (\d+) records", line).group(1))
        counts = progress_of(done, "applied")
        assert applied >= 2 and counts[-1] == applied and len(counts) >= 2
