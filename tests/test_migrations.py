"""Upgrading in place: databases the previous release (a9b27a3) made, rows in them, are brought
to this release's schema by `govshare migrate`, on SQLite (a file per stage) and PostgreSQL (one
database), keeping every row; a second run changes nothing; and the revisions end where the
models are, so a column added without a revision fails here."""
from __future__ import annotations

import os
import subprocess
import sys
import types
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (BigInteger, Boolean, Date, DateTime, Integer, LargeBinary, MetaData, String, Text,
                        func, insert, inspect, select)

from infra.config import Settings
from infra.database import make_engine
from migrations.baseline import processors as old_processors
from migrations.baseline import projections as old_projections
from migrations.baseline import runtime as old_runtime
from infra.migrate import MODELS, branches_by_database

ROOT = Path(__file__).resolve().parent.parent
RELEASED = {"runtime": old_runtime.metadata, "processors": old_processors.metadata,
            "projections": old_projections.metadata}


def _value(column):
    kind = column.type
    for types_, value in (((Boolean,), False), ((BigInteger, Integer), 1), ((DateTime,), datetime(2026, 3, 2, tzinfo=timezone.utc)),
                          ((Date,), date(2026, 3, 2)), ((LargeBinary,), b"bytes"), ((String, Text), "kept")):
        if isinstance(kind, types_):
            return value
    raise AssertionError(f"no test value for {column}")


def _row(table, **given):
    """A row the table takes: every column not given and not nullable gets a plain value."""
    return {**{c.name: _value(c) for c in table.columns if not c.nullable and c.autoincrement is not True
               and c.name not in given}, **given}


def given_the_previous_release(settings: Settings) -> None:
    """Every database that release made for these settings, each with a row or two."""
    for url, branches in branches_by_database(settings).items():
        engine = make_engine(url)
        with engine.begin() as conn:
            for branch in branches:
                if branch in RELEASED:  # the API's tables came after that release
                    RELEASED[branch].create_all(conn)
            if "runtime" not in branches:
                continue
            conn.execute(insert(old_runtime.outbox), _row(old_runtime.outbox, stage="validator", published=True,
                                                               headers='[["ce_id", "x"]]'))
            if "processors" in branches:
                conn.execute(insert(old_processors.grants), _row(old_processors.grants, grant_id="g-1"))
            if "projections" in branches:
                conn.execute(insert(old_projections.deadlines), _row(old_projections.deadlines, deadline_id="d-1"))
                conn.execute(insert(old_projections.accesses), _row(old_projections.accesses, access_id="a-1"))
        engine.dispose()


def govshare_migrate(settings: Settings) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env["GOVSHARE_HOME"] = str(settings.home)
    if settings.database_url:
        env["GOVSHARE_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "infra.cli", "migrate"], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def _settings(tmp_path, database_url: str) -> Settings:
    # SQLite: the default layout, a file per stage under the home; PostgreSQL: one database.
    return Settings(home=tmp_path / "var", database_url=None if database_url.startswith("sqlite") else database_url)


def test_the_previous_release_upgrades_in_place_keeping_its_rows(tmp_path, database_url):
    settings = _settings(tmp_path, database_url)
    given_the_previous_release(settings)

    done = govshare_migrate(settings)

    assert done.returncode == 0, done.stderr
    databases = branches_by_database(settings)
    assert len(done.stdout.splitlines()) == sum(len(b) for b in databases.values())
    assert "projections upgraded projections_baseline -> projections_0016" in done.stdout
    assert "processors upgraded processors_baseline -> processors_0006" in done.stdout
    for url, branches in databases.items():
        engine = make_engine(url)
        with engine.connect() as conn:
            found = inspect(conn)
            if "runtime" in branches:
                assert conn.scalar(select(func.count()).select_from(old_runtime.outbox)) == 1
                # That release published unsigned: its outbox row is now signed by its stage.
                headers = conn.scalar(select(old_runtime.outbox.c.headers))
                assert '"ce_govstagekey", "validator+' in headers and "ce_govstagesig" in headers
            if "api" in branches:
                assert "api created at api_0003" in done.stdout
            if "processors" in branches:
                assert {"proc_obligations", "proc_grant_revisions"} <= set(found.get_table_names())
                assert "ix_proc_grants_entry_id" in {i["name"] for i in found.get_indexes("proc_grants")}
                assert conn.execute(select(old_processors.grants.c.grant_id)).scalars().all() == ["g-1"]
            if "projections" in branches:
                assert {"method", "scenario"} <= {c["name"] for c in found.get_columns("accesses")}
                deadlines = MODELS["projections"].tables["deadlines"]
                assert conn.execute(select(deadlines.c.deadline_id, deadlines.c.provisional)).all() == [("d-1", False)]
                accesses = MODELS["projections"].tables["accesses"]
                assert conn.execute(select(accesses.c.access_id, accesses.c.method)).all() == [("a-1", None)]
            for branch in branches:
                assert _drift(conn, branch) == [], f"{branch} in {url}: the revisions do not end at the models"
        engine.dispose()

    again = govshare_migrate(settings)
    assert again.returncode == 0, again.stderr
    assert all(" already at " in line for line in again.stdout.splitlines()), again.stdout


def test_a_fresh_database_is_created_at_the_head_and_left_alone_after(tmp_path, database_url):
    settings = _settings(tmp_path, database_url)
    first = govshare_migrate(settings)
    assert first.returncode == 0, first.stderr
    assert all(" created at " in line for line in first.stdout.splitlines()), first.stdout
    for url, branches in branches_by_database(settings).items():
        engine = make_engine(url)
        with engine.connect() as conn:
            assert all(_drift(conn, branch) == [] for branch in branches)
        engine.dispose()
    again = govshare_migrate(settings)
    assert all(" already at " in line for line in again.stdout.splitlines()), again.stdout


def test_tables_a_stage_made_alone_are_adopted_at_the_head(tmp_path, database_url):
    """`govshare run STAGE` creates its tables from the models: nothing is there to upgrade."""
    settings = _settings(tmp_path, database_url)
    for url, branches in branches_by_database(settings).items():
        engine = make_engine(url)
        for branch in branches:
            MODELS[branch].create_all(engine)
        engine.dispose()
    done = govshare_migrate(settings)
    assert done.returncode == 0, done.stderr
    assert all(" stamped at " in line for line in done.stdout.splitlines()), done.stdout


def _drift(conn, branch: str) -> list:
    """What the database lacks or has beyond the branch's models (its own tables only)."""
    mine = set(MODELS[branch].tables)
    context = MigrationContext.configure(conn, opts={"include_name": lambda name, kind, parent: (
        kind != "table" or name in mine)})
    return compare_metadata(context, MODELS[branch])


def test_the_baseline_is_the_previous_release(tmp_path):
    """migrations/baseline/ holds the tables of a9b27a3, as released: compared with the modules
    of that commit, where this checkout has its history."""
    sources = {"projections": "projections/tables.py", "processors": "processors/store.py",
               "runtime": "runtime/store.py"}
    for branch, path in sources.items():
        shown = subprocess.run(["git", "show", f"a9b27a3:{path}"], cwd=ROOT, capture_output=True, text=True)
        if shown.returncode != 0:
            pytest.skip("this checkout has no git history of a9b27a3")
        released = types.ModuleType(f"released_{branch}")
        exec(compile(shown.stdout, path, "exec"), released.__dict__)
        assert _shape(released.metadata) == _shape(RELEASED[branch]), branch


def _shape(metadata: MetaData) -> dict:
    return {name: ([(c.name, repr(c.type), c.nullable, c.primary_key) for c in table.columns],
                   sorted((i.name, tuple(c.name for c in i.columns), i.unique) for i in table.indexes))
            for name, table in metadata.tables.items()}
