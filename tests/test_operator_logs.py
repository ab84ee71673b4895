"""Logs a collector can read: with GOVSHARE_LOG_FORMAT=json the supervisor and every stage it
spawns write one JSON object a line; the default console format has no colour codes when
standard output is not a terminal."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path

from infra.system import SYSTEM
from tests.conftest import start_service, wait_for

ROOT = Path(__file__).resolve().parent.parent


def test_json_logs_are_one_object_a_line_from_the_supervisor_and_every_stage(broker, tmp_path):
    # Placed otherwise than by default, each stage alone and two validators: every process of
    # the placement is started and logs.
    service = start_service(tmp_path, {
        "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap, "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}",
        "GOVSHARE_LOG_FORMAT": "json", "GOVSHARE_PROCESSES": "validator*2 deadlines grants notary projector"})
    try:
        wait_for(lambda: service.log.read_text().count('"event": "stage.started"') == len(SYSTEM.names) + 1,
                 60, "every stage to log stage.started")
        lines = service.log.read_text().splitlines()
    finally:
        service.stop()
    records = [json.loads(line) for line in lines]  # every line parses, or this fails on it
    for record in records:
        assert {"timestamp", "level", "logger", "event"} <= record.keys(), record
        assert datetime.fromisoformat(record["timestamp"]).utcoffset() is not None, record
    started = sorted(r["stage"] for r in records if r["event"] == "stage.started")
    assert started == sorted(SYSTEM.names + ("validator",))
    spawned = {r["stage"] for r in records if r["event"] == "stage.spawned"}
    assert spawned == {"validator#1", "validator#2", "deadlines", "grants", "notary", "projector", "api"}
    assert {r["logger"] for r in records} >= {"govshare.service", "govshare.stage", "govshare.topics"}
    assert any(r["event"] == "service.ready" and r["level"] == "info" for r in records)


def test_console_logs_have_no_colour_codes_in_a_file_or_pipe(broker, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "topics", "create"], capture_output=True, text=True, cwd=ROOT,
        env={**env, "GOVSHARE_HOME": str(tmp_path), "GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
             "GOVSHARE_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}"}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "topic.created" in done.stdout
    assert "\x1b[" not in done.stdout
