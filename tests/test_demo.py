"""The README's demo command runs a whole scenario on its own fresh embedded stack."""
from __future__ import annotations

import os
import subprocess
import sys


def test_govshare_demo_runs_the_catalog_scenario():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    done = subprocess.run([sys.executable, "-m", "infra.cli", "demo"], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "REJECTED  EntryRegistered        gd-health-diagnosis #1 -> legal-basis-required (GD-2018 Art. 18)" in out
    assert "-> extension-limit" in out and "-> actor-not-permitted (GD-2018 Art. 21, 27)" in out
    assert "v2 RevisionApproved  CONDITIONAL" in out
    assert "Counts: {'accepted': 9, 'rejected': 4, 'dead_lettered': 0}" in out
    hebei = next(line for line in out.splitlines() if line.strip().startswith("catalog-update  hb-civil"))
    assert " open " in hebei and "extensions=1" in hebei
    assert "gd-hrss-insurance" in out.split("== Deadlines")[1].split("\n")[1]
