"""An embedded deployment of an earlier release upgrades in place: `govshare up` migrates its
databases, signs the outputs a release before stage signatures published unsigned (this one
parks what no stage signed), registers the first department directory, rehydrates the broker,
and the trail still verifies; a signed submission is then accepted.

Each fixture is the `var/` that release's `govshare up` made for its examples, taken after a
clean stop:
- previous-release-var.tgz: a9b27a3 (catalog, sharing-request, objection-loop; 18 trail records);
- release-b1e06d7-var.tgz: b1e06d7, the release before this one, which had migrations and stage
  signatures but no directory events and no signed submissions (catalog, sharing,
  sharing-request, objection, objection-loop; 16 trail records).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.builders import lines, new_id, registered
from tests.conftest import start_service, wait_for

FIXTURES = Path(__file__).parent / "fixtures"


def cli(service, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fixture,records", [("previous-release-var.tgz", 18), ("release-b1e06d7-var.tgz", 16)])
def test_an_earlier_releases_var_upgrades_in_place_and_its_trail_still_verifies(tmp_path, fixture, records):
    with tarfile.open(FIXTURES / fixture) as archive:
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
        assert verified.returncode == 0 and report["intact"] and report["tree_size"] >= records, verified.stdout
        # The new release goes on from there.
        from infra.submit import submit_lines
        [result] = submit_lines(lines(registered(new_id())), service.kafka, service.topics, timeout=60)
        assert result["status"] == "accepted"
    finally:
        service.stop()
