"""The command line tells the truth (issue #26, item 4): every time it prints carries its zone,
the zone of the row's jurisdiction unless --utc asks for UTC; a time given without a zone is
refused with an example rather than guessed; a list cut at --limit says so; the commands find
the service's home from GOVSHARE_HOME or the checkout, whatever the working directory; and a key
made before the service runs is registered at its first start, or the command says what to do.

Most tests run the `govshare` process over the in-memory runner's databases (tests/harness.py,
SQLite and PostgreSQL). One runs the real service, because what it checks needs a broker:
`register-key` registering a key that `keygen` wrote while no broker answered.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from infra import output
from processors.profiles import load_all
from tests.builders import event, new_id, registered
from tests.conftest import start_service
from tests.harness import ROOT, Harness

HB = dict(department="hb-civil", policy="hebei-2023")
AUTHORITY = dict(department="hb-authority", role="DATA_AUTHORITY", policy="hebei-2023")
# Monday 30 Nov 2026, 10:00 in Hebei: ten working days later is Monday 14 Dec, so the limit
# ends at midnight starting 15 Dec, Beijing time: 16:00 on 14 Dec in UTC (the example).
RECEIVED = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
DUE_BEIJING, DUE_UTC = "2026-12-15 00:00:00+08:00", "2026-12-14 16:00:00+00:00"


def _obligation(harness) -> str:
    """A Hebei catalog entry whose provider must update it by the limit above; its deadline id."""
    entry = new_id()
    harness.given(registered(entry, **HB), event(
        "ChangeObligationRaised", entry, 2, {"obligation_id": "ob", "trigger": "LAW_REVISED",
                                            "reference": "条例修订", "received_on": "2026-11-30"}, **AUTHORITY),
        at=RECEIVED)
    harness.project()
    [deadline] = json.loads(harness.cli("query", "deadlines", "--party", "hb-civil", "--json").stdout)
    return deadline["deadline_id"]


def _govshare(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The command with none of the test session's GOVSHARE_* settings: as an operator's shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env={**base, **(env or {})}, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


# -- times with their zone --------------------------------------------------------------------

def test_a_limit_ending_at_midnight_in_beijing_shows_as_midnight_with_its_zone(harness):
    _obligation(harness)
    [header, row] = harness.cli("query", "deadlines", "--party", "hb-civil").stdout.splitlines()
    assert DUE_BEIJING in row and "2026-12-14 16:00:00 " not in row
    [_, in_utc] = harness.cli("query", "deadlines", "--party", "hb-civil", "--utc").stdout.splitlines()
    assert DUE_UTC in in_utc

    [listed] = json.loads(harness.cli("query", "deadlines", "--party", "hb-civil", "--json").stdout)
    assert (listed["due_at"], listed["started_on"]) == ("2026-12-15T00:00:00+08:00", "2026-11-30")
    [listed] = json.loads(harness.cli("query", "deadlines", "--party", "hb-civil", "--json", "--utc").stdout)
    assert listed["due_at"] == "2026-12-14T16:00:00+00:00"


def test_the_trail_and_its_exports_show_each_time_with_its_zone(harness, tmp_path):
    deadline = _obligation(harness)
    [scheduled] = json.loads(harness.cli("trail", "--aggregate", deadline, "--json").stdout)
    assert scheduled["when"]["recorded_at"] == "2026-11-30T10:00:00+08:00"
    assert scheduled["state_after"]["due_at"] == "2026-12-15T00:00:00+08:00"
    [scheduled] = json.loads(harness.cli("trail", "--aggregate", deadline, "--json", "--utc").stdout)
    assert scheduled["when"]["recorded_at"] == "2026-11-30T02:00:00+00:00"
    assert scheduled["state_after"]["due_at"] == "2026-12-14T16:00:00+00:00"

    text = harness.cli("trail", "--aggregate", deadline).stdout
    assert " 2026-11-30 10:00:00+08:00 DeadlineScheduled " in text
    assert '"due_at": "2026-12-15T00:00:00+08:00"' in text, "the state after, in the same zone"
    assert " 2026-11-30 02:00:00+00:00 DeadlineScheduled " in harness.cli("trail", "--aggregate", deadline,
                                                                         "--utc").stdout

    lines, table = tmp_path / "trail.jsonl", tmp_path / "trail.csv"
    harness.cli("export", "--aggregate", deadline, "--since", "2026-11-30T10:00+08:00", "--out", str(lines))
    [row] = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    assert (row["occurred_at"], row["recorded_at"]) == ("2026-11-30T10:00:00+08:00",) * 2
    cover = json.loads((tmp_path / "trail.jsonl.checkpoint.json").read_text(encoding="utf-8"))
    assert cover["filters"]["since"] == "2026-11-30T10:00:00+08:00"
    harness.cli("export", "--aggregate", deadline, "--format", "csv", "--utc", "--out", str(table))
    with open(table, newline="", encoding="utf-8") as f:
        [row] = list(csv.DictReader(f))
    assert row["recorded_at"] == "2026-11-30T02:00:00+00:00"


def test_a_row_shows_its_times_in_its_own_jurisdiction_s_zone(tmp_path):
    """A jurisdiction in another zone (a deployment's profile, here Guangxi's moved to Urumqi
    time): its rows show that zone; a row that names only a department, its department's; the
    parts of a row, the row's; a row of no jurisdiction, the platform's."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    profile = tmp_path / "policies" / "guangxi.toml"
    profile.write_text(profile.read_text(encoding="utf-8").replace('"Asia/Shanghai"', '"Asia/Urumqi"'),
                       encoding="utf-8")
    policies = load_all(tmp_path / "policies")
    at = datetime(2026, 12, 14, 16, 0, tzinfo=timezone.utc)
    rows = [{"policy_id": "guangxi", "due_at": at, "versions": [{"actor_department": "hb-civil", "at": at}]},
            {"party": "gx-nr", "due_at": at}, {"party": "hb-civil", "due_at": at}, {"due_at": at}]
    shown = output.jsonable(rows, policies=policies)
    assert [r["due_at"] for r in shown] == ["2026-12-14T22:00:00+06:00", "2026-12-14T22:00:00+06:00",
                                            "2026-12-15T00:00:00+08:00", "2026-12-15T00:00:00+08:00"]
    assert shown[0]["versions"][0]["at"] == "2026-12-14T22:00:00+06:00", "a part keeps its row's zone"
    assert output.jsonable(rows, utc=True, policies=policies)[0]["due_at"] == "2026-12-14T16:00:00+00:00"
    assert output.table(rows, ["due_at"], policies=policies)[1:] == [
        "2026-12-14 22:00:00+06:00", "2026-12-14 22:00:00+06:00", DUE_BEIJING, DUE_BEIJING]


# -- a time without a zone is refused ------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ["replay", "--into", "sqlite:///x.db", "--as-of"], ["trail", "--since"], ["trail", "--until"],
    ["export", "--out", "x.jsonl", "--since"], ["simulate", "-", "--as-of"]])
def test_a_time_without_a_zone_is_refused_with_an_example(tmp_path, command):
    done = _govshare(*command, "2026-12-15T00:00", cwd=tmp_path, env={"GOVSHARE_HOME": str(tmp_path / "home")})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = done.stderr.splitlines()[-1]
    assert "'2026-12-15T00:00' has no zone" in said and "e.g. 2026-12-15T00:00+08:00" in said, said
    assert not (tmp_path / "home").exists(), "refused before anything was opened"


# -- a list cut at --limit says so ---------------------------------------------------------------

def test_a_list_cut_at_its_limit_says_so_and_how_to_see_the_rest(harness):
    provider = dict(department="nb-market", policy="ningbo-haishu-2021")
    harness.given(*(registered(new_id(), **provider) for _ in range(3)))
    harness.project()

    def listed(*args: str):
        done = harness.cli("query", "catalog", "--provider", "nb-market", "--json", *args)
        return [r["entry_id"] for r in json.loads(done.stdout)], done.stderr

    every, said = listed("--limit", "0")
    assert len(every) == 3 and said == ""
    page, said = listed("--limit", "2")
    assert page == every[:2], "stdout stays the JSON a script reads"
    assert "govshare: 2 rows shown and more match (--limit 2)" in said and "--limit 0" in said
    cursor = said.split("--after ")[1].split(",")[0]
    rest, said = listed("--limit", "2", "--after", cursor)
    assert page + rest == every and said == "", "the last page, however full, says nothing more"
    exactly, said = listed("--limit", "3")
    assert exactly == every and said == "", "as many rows as the limit, and no more: nothing cut"

    steps = harness.cli("trail", "--department", "nb-market", "--no-state", "--json", "--limit", "2")
    assert len(json.loads(steps.stdout)) == 2 and "2 steps shown and more match" in steps.stderr


# -- the home: GOVSHARE_HOME, else the checkout, whatever the working directory --------------------

def test_the_home_is_the_checkout_s_from_any_working_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    checkout_home = ROOT / "var"
    assert f"{checkout_home} (var/ of the checkout {ROOT}" in " ".join(
        _govshare("--help", cwd=elsewhere).stdout.split())
    done = _govshare("query", "catalog", cwd=elsewhere)
    if done.returncode:  # no service ever ran from this checkout: the sentence names where it looked
        assert f"sqlite:///{checkout_home / 'govshare.db'} yet (home {checkout_home}: var/ of the checkout" \
               in done.stderr, done.stderr
    assert not (elsewhere / "var").exists(), "nothing made in the working directory"

    home = tmp_path / "home"
    done = _govshare("query", "catalog", cwd=elsewhere, env={"GOVSHARE_HOME": str(home)})
    assert done.returncode == 1
    assert done.stderr == (f"govshare: no projections at sqlite:///{home / 'govshare.db'} yet (home {home}: set "
                           f"by GOVSHARE_HOME): start `govshare up` first\n")
    assert not home.exists(), "a reader leaves no empty database behind"


# -- keys made before the service runs --------------------------------------------------------

def test_a_key_made_before_the_first_start_is_registered_by_it(database_url, tmp_path, monkeypatch):
    keys = tmp_path / "department-keys"
    monkeypatch.setenv("GOVSHARE_DEPARTMENT_KEYS", str(keys))  # the directory the first start reads
    env = {"GOVSHARE_HOME": str(tmp_path / "home"), "GOVSHARE_DEPARTMENT_KEYS": str(keys),
           "GOVSHARE_DATABASE_URL": database_url, "GOVSHARE_STATE_URL": database_url}
    before = _govshare("keygen", "--department", "gd-hrss", cwd=tmp_path, env=env)
    assert before.returncode == 0, before.stdout + before.stderr
    key_id = before.stdout.split("key id ")[1].split()[0]
    assert f"key {key_id} of gd-hrss: the first `govshare up` registers it" in before.stdout

    harness = Harness(database_url, tmp_path / "home")  # the first start
    try:
        harness.project()
        directory = json.loads(harness.cli("query", "departments", "--json").stdout)
        [hrss] = [d for d in directory if d["department"] == "gd-hrss"]
        assert [k["key_id"] for k in hrss["keys"]] == [key_id]

        # After the first start, only the administrator's event registers a key: with no
        # broker answering, the key is written and the command says what to do.
        after = harness.cli("keygen", "--department", "gd-psb", check=False)
        assert after.returncode == 1 and (keys / "gd-psb.pem").exists()
        assert "no broker" in after.stderr and "written but not registered" in after.stderr
        assert "`govshare register-key --department gd-psb`" in after.stderr
        elsewhere = harness.cli("keygen", "--department", "gd-amr", "--out", str(tmp_path / "mine"), check=False)
        assert f"`govshare register-key --department gd-amr --from {tmp_path / 'mine'}`" in elsewhere.stderr
    finally:
        harness.sim.close()


def test_a_key_made_before_first_start_elsewhere_says_where_to_put_it(tmp_path):
    env = {"GOVSHARE_HOME": str(tmp_path / "home")}
    done = _govshare("keygen", "--department", "gd-hrss", "--out", str(tmp_path / "mine"), cwd=tmp_path, env=env)
    assert done.returncode == 1 and (tmp_path / "mine" / "gd-hrss.pub").exists()
    assert (f"registers the public keys in {tmp_path / 'home' / 'department-keys'} only; copy "
            f"{tmp_path / 'mine' / 'gd-hrss.pub'} there") in done.stderr


def test_a_key_written_while_no_broker_answered_is_registered_by_register_key(broker, tmp_path):
    service = start_service(tmp_path, {"GOVSHARE_BOOTSTRAP_SERVERS": broker.bootstrap,
                                       "GOVSHARE_TOPIC_PREFIX": f"t{new_id('')[1:]}"})
    try:
        unreachable = {k: v for k, v in service.env.items() if k != "GOVSHARE_BOOTSTRAP_SERVERS"}
        keys = tmp_path / "keys"
        written = subprocess.run([sys.executable, "-m", "infra.cli", "keygen", "--department", "nb-civil",
                                  "--out", str(keys)], env=unreachable, capture_output=True, text=True, timeout=60)
        assert written.returncode == 1 and f"--from {keys}`" in written.stderr
        key_id = written.stdout.split("key id ")[1].split()[0]

        registered_now = subprocess.run([sys.executable, "-m", "infra.cli", "register-key", "--department",
                                         "nb-civil", "--from", str(keys)], env=service.env,
                                        capture_output=True, text=True, timeout=120)
        assert registered_now.returncode == 0, registered_now.stdout + registered_now.stderr
        assert "accepted DepartmentKeyRegistered nb-civil" in registered_now.stdout
        listed = subprocess.run([sys.executable, "-m", "infra.cli", "query", "departments"], env=service.env,
                                capture_output=True, text=True, timeout=60).stdout
        assert key_id[:12] in next(line for line in listed.splitlines() if line.startswith("nb-civil "))
    finally:
        service.stop()


# -- govshare sign --batch ---------------------------------------------------------------------

def test_sign_batch_signs_lines_in_batches_and_names_the_lines_it_cannot(tmp_path):
    from tests.conftest import KEYS
    rows = [registered(new_id()) for _ in range(3)] + [registered(new_id(), department="gd-psb")]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\nnot json\n", encoding="utf-8")
    done = _govshare("sign", str(source), "--key", str(KEYS / "gd-hrss.pem"), "--batch", "2", cwd=ROOT)
    signed = [json.loads(line) for line in done.stdout.splitlines()]
    # Lines 1-2 one batch; lines 3-4 act for two departments, which one key cannot sign as one.
    assert done.returncode == 1 and len(signed) == 2
    assert signed[0]["signature"]["value"] != signed[1]["signature"]["value"]
    assert "lines 3-4: INVALID a batch is signed with one department's key" in done.stderr
    assert "line 5: INVALID malformed JSON" in done.stderr
    assert "Traceback" not in done.stderr
