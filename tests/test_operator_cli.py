"""What an operator sees when a setting is wrong: one line naming it, its value and what is
wrong, exit code 2, and never a traceback; and `govshare --version`.

Each test runs the `govshare` process itself, with no service and no harness: what is tested is
that process's exit code, stdout and stderr, before any deployment exists.
"""
from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def govshare(*args: str, env: dict[str, str] | None = None, home: Path | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    if home is not None:
        base["GOVSHARE_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env={**base, **(env or {})},
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_version_prints_the_installed_version():
    done = govshare("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"govshare {version('govshare')}"


@pytest.mark.parametrize("setting, value, problem", [
    ("GOVSHARE_PARTITIONS", "three", "not a whole number"),
    ("GOVSHARE_REPLICATION_FACTOR", "0", "must be at least 1"),
    ("GOVSHARE_BATCH_WINDOW", "nan", "not a finite number"),
    ("GOVSHARE_CHECKPOINT_SECONDS", "soon", "not a number"),
    ("GOVSHARE_BOOTSTRAP_SERVERS", "localhost:99999", "99999 is not a TCP port (1-65535)"),
    ("GOVSHARE_BOOTSTRAP_SERVERS", "localhost", "localhost is not host:port"),
    ("GOVSHARE_DATABASE_URL", "mysql://db/govshare", "mysql is not supported: use SQLite or PostgreSQL"),
    ("GOVSHARE_STATE_URL", "not a url", "not a database URL"),
    ("GOVSHARE_CLOCK", "wall", "use system or file:PATH"),
    ("GOVSHARE_LOG_FORMAT", "xml", "use one of console, json"),
    ("GOVSHARE_LOG_LEVEL", "loud", "use one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("GOVSHARE_DEPARTMENTS", "/no/such/departments.toml", "no such file"),
    ("GOVSHARE_EXTRA_PROJECTIONS", "mymodule", "mymodule is not module:function"),
])
def test_a_bad_setting_is_one_line_and_exit_code_2(tmp_path, setting, value, problem):
    done = govshare("health", env={setting: value}, home=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"govshare: {setting}={value}: {problem}")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_home_that_is_a_file_is_named(tmp_path):
    (tmp_path / "home").write_text("")
    done = govshare("up", home=tmp_path / "home")
    assert (done.returncode, done.stderr) == (2, f"govshare: GOVSHARE_HOME={tmp_path / 'home'}: "
                                                 f"exists and is not a directory\n")


def test_a_trail_key_that_is_a_directory_is_named(tmp_path):
    done = govshare("trail-key", env={"GOVSHARE_TRAIL_KEY": str(tmp_path)}, home=tmp_path)
    assert (done.returncode, done.stderr) == (2, f"govshare: GOVSHARE_TRAIL_KEY={tmp_path}: "
                                                 f"is a directory, not a file\n")


@pytest.mark.parametrize("command", [["trail"], ["verify", "--offline"], ["prove", "some-event"],
                                     ["export", "--out", "x.jsonl"]])
def test_the_trail_before_any_service_ran_is_a_sentence(tmp_path, command):
    done = govshare(*command, home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("govshare: no projections at ") and "Traceback" not in done.stderr


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe", "cannot read"),
    (b"{not json", "as JSON"),
    (b"[1, 2]", "holds no JSON object"),
])
def test_verify_proof_on_a_bad_file_is_a_sentence(tmp_path, content, problem):
    (tmp_path / "proof.json").write_bytes(content)
    done = govshare("verify-proof", str(tmp_path / "proof.json"), home=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("govshare: ") and problem in done.stderr


def test_verify_proof_on_a_json_object_that_is_no_proof_says_invalid(tmp_path):
    (tmp_path / "proof.json").write_text('{"record_id": "x"}')
    done = govshare("verify-proof", str(tmp_path / "proof.json"), "--public-key", "A" * 43 + "=",
                    home=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stdout.startswith("INVALID: not an inclusion proof")


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "0000-01-01T00:00:00Z"])
def test_a_bad_since_is_a_usage_line(tmp_path, since):
    done = govshare("trail", "--since", since, home=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"argument --since: {since!r} is no ISO 8601 instant" in done.stderr.splitlines()[-1]
