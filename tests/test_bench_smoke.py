"""The benchmarks still run against today's code: every module of bench/ imports, and the
cheapest run end to end at their tiniest size (a few seconds in all), so that an API moved
under them breaks this test rather than the next benchmark run. What they measure is not
looked at, only that each ran and that what it reports holds together.

Not run here: the benchmarks that start the whole service or the HTTP API (pipeline, api,
pages: seconds each before they measure anything), which are only imported. bench.peer needs
the `[bench]` extra (the `eventsourcing` library): it is imported only where that is
installed, and is not collected otherwise (the project's .venv has it not).
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
import sys

import pytest

import bench

# The modules that need a library only the `[bench]` extra installs.
EXTRA = {"peer": "eventsourcing"}
MODULES = [m.name for m in pkgutil.iter_modules(bench.__path__)
           if m.name not in EXTRA or importlib.util.find_spec(EXTRA[m.name]) is not None]


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_module_imports(name):
    importlib.import_module(f"bench.{name}")


def run(module: str, *args: str, results, monkeypatch) -> dict:
    """`python -m bench.<module> <args>` in this process; the JSON it saved."""
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    monkeypatch.setattr(sys, "argv", [f"bench.{module}", *args])
    before = set(results.iterdir()) if results.exists() else set()
    importlib.import_module(f"bench.{module}").main()
    [saved] = set(results.iterdir()) - before
    return json.loads(saved.read_text())


def test_rebuild_and_replay_read_the_same_log_and_replay_applies_its_first_half(tmp_path, monkeypatch):
    found = run("rebuild", "--events", "200", "--baseline", "20", "--repeats", "1", "--database", "sqlite",
                results=tmp_path, monkeypatch=monkeypatch)
    rebuild, replay = found["rebuild"], found["replay"]
    assert rebuild["records"] == replay["records"] > found["workload_events"] / 2
    assert rebuild["applied"] == rebuild["records"]
    assert 0 < replay["applied"] < rebuild["applied"]
    assert found["query_latency"]["event_log_rows"] > 0


def test_deadlines_fire_in_a_burst(tmp_path, monkeypatch):
    found = run("deadlines", "--pending", "60", "--burst", "20", results=tmp_path, monkeypatch=monkeypatch)
    assert found["burst_events_emitted"] >= 20


def test_the_trail_verifies_and_proves(tmp_path, monkeypatch):
    found = run("trail", "--events", "200", "--batch", "50", results=tmp_path, monkeypatch=monkeypatch)
    assert found["verify"] | {"seconds": 0, "events_per_s": 0, "anchored_seconds": 0} == {
        "events": 200, "checkpoints": 4, "seconds": 0, "events_per_s": 0, "anchored_seconds": 0}


def test_tampering_is_found_when_anchored(tmp_path, monkeypatch):
    found = run("tamper", "--records", "150", "--trials", "1", results=tmp_path, monkeypatch=monkeypatch)
    assert all(kind["anchored"]["found"] == 1 for kind in found["kinds"].values()), found["kinds"]
