"""Bring a branch of tables to the schema this release expects, keeping what it holds (Alembic
revisions in versions/, the first release's schema frozen in baseline/). Which databases hold
which branches, and the models, are the deployment's to say: infra/migrate.py.

A database with no version row for a branch is adopted first:
- none of the branch's tables there: a fresh database, created from the current models and
  stamped at the head (one pass of DDL; the test that upgrades the previous release's schema
  holds the revisions equal to the models);
- every table and column of the current models there: made by this release's `create_all`
  (a stage started alone creates its tables), stamped at the head;
- anything else: made by the previous release, which had no migrations; stamped at the
  baseline (that release's schema) and upgraded from there.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect

VERSION_TABLE = "govshare_schema_version"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Migrated:
    """What one branch of one database went through."""
    database: str  # the URL without its query (which may carry a password or options)
    branch: str
    adopted: str | None  # created | current | previous-release | None (it had a version)
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.adopted is not None or self.before != self.after

    def __str__(self) -> str:
        if self.adopted == "created":
            how = f"created at {self.after}"
        elif self.adopted == "current":
            how = f"stamped at {self.after} (its tables were this release's already)"
        elif self.before == self.after:
            how = f"already at {self.after}"
        else:
            how = f"upgraded {self.before} -> {self.after}"
        return f"{self.database}: {self.branch} {how}"


class MigrationFailed(Exception):
    """A database could not be brought to this release's schema; it was left as it was."""


def upgrade(conn: Connection, branch: str, database: str, models: MetaData) -> Migrated:
    """Bring one branch of tables in the database on `conn` to this release's head; `models`:
    the branch's current tables, which a fresh database is created from."""
    script = _script()
    head = script.get_revision(f"{branch}@head").revision
    mine = {r.revision for r in script.iterate_revisions(f"{branch}@head", "base")}
    adopted = None
    before = next(iter(set(_context(conn).get_current_heads()) & mine), None)
    if before is None:
        adopted, before = _adopt(conn, branch, script, models)
        _context(conn).stamp(script, before)
    if before != head:
        config = Config()
        config.set_main_option("script_location", str(HERE))
        config.attributes["connection"] = conn
        command.upgrade(config, f"{branch}@head")
    return Migrated(database, branch, adopted, before, head)


@cache
def _script() -> ScriptDirectory:
    """The revisions, read once a process: reading them (every file under versions/ executed)
    was most of what migrating a fresh or current database cost, in every process that starts."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return ScriptDirectory.from_config(config)


def _context(conn: Connection) -> MigrationContext:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})


def _adopt(conn: Connection, branch: str, script: ScriptDirectory, models: MetaData) -> tuple[str, str]:
    present = set(inspect(conn).get_table_names())
    head = script.get_revision(f"{branch}@head").revision
    if not present & set(models.tables):
        models.create_all(conn)
        return "created", head
    if all(_has_every_column(conn, table) for table in models.tables.values()):
        return "current", head
    return "previous-release", f"{branch}_baseline"


def _has_every_column(conn: Connection, table) -> bool:
    inspector = inspect(conn)
    if not inspector.has_table(table.name):
        return False
    return {c.name for c in table.columns} <= {c["name"] for c in inspector.get_columns(table.name)}
