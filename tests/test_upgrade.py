"""An embedded deployment of the previous release (a9b27a3) upgrades in place: `govshare up`
migrates its databases, signs the outputs that release published unsigned (this one parks what
no stage signed), rehydrates the broker from them, and the trail still verifies.

tests/fixtures/previous-release-var.tgz is the `var/` that release's `govshare up` made for its
examples (catalog, sharing-request, objection-loop; 18 trail records), taken after a clean stop.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

from tests.builders import lines, new_id, registered
from tests.conftest import start_service, wait_for

FIXTURE = Path(__file__).parent / "fixtures" / "previous-release-var.tgz"


def cli(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


def test_the_previous_releases_var_upgrades_in_place_and_its_trail_still_verifies(tmp_path):
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    (tmp_path / "var").rename(tmp_path / "home")
    service = start_service(tmp_path, {})
    try:
        catalog = wait_for(lambda: (r := cli(service, "query", "catalog", "--json")).returncode == 0
                           and len(json.loads(r.stdout)) == 3 and json.loads(r.stdout), 60, "the old catalog")
        assert {e["entry_id"] for e in catalog} == {"gd-hrss-social-insurance", "gd-psb-household",
                                                    "nb-market-enterprises"}
        health = wait_for(lambda: (h := cli(service, "health", "--json")).returncode == 0 and h, 60,
                          "every stage caught up, nothing parked")
        assert all(stage["parked"] == 0 for stage in json.loads(health.stdout)["stages"])
        verified = cli(service, "verify", "--json")
        report = json.loads(verified.stdout)
        assert verified.returncode == 0 and report["intact"] and report["tree_size"] >= 18, verified.stdout
        # The new release goes on from there.
        from infra.submit import submit_lines
        [result] = submit_lines(lines(registered(new_id())), service.kafka, service.topics, timeout=60)
        assert result["status"] == "accepted"
    finally:
        service.stop()
