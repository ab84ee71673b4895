"""`govshare migrate` (and `govshare up` before any stage starts): bring every database the
settings name to the schema this release expects, keeping what they hold.

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
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect, select, update
from sqlalchemy.exc import SQLAlchemyError

from infra.config import Settings
from infra.database import make_engine

VERSION_TABLE = "govshare_schema_version"
HERE = Path(__file__).resolve().parent


def _models() -> dict[str, MetaData]:
    from processors import store as processor_store
    from projections import tables
    from runtime import store as runtime_store
    from web import store as api_store
    return {"runtime": runtime_store.metadata, "processors": processor_store.metadata,
            "projections": tables.metadata, "api": api_store.metadata}


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


def branches_by_database(settings: Settings) -> dict[str, list[str]]:
    """Each database the stages write to, with the branches of tables it holds."""
    found: dict[str, list[str]] = {}
    for stage, url in settings.stage_urls().items():
        branches = found.setdefault(url, ["runtime"])
        kind = "projections" if stage == "projector" else "processors"
        if kind not in branches:
            branches.append(kind)
    # The HTTP API's tables: a file of their own on SQLite, which holds no runtime tables.
    found.setdefault(settings.api_database_url, []).append("api")
    return found


class MigrationFailed(Exception):
    """A database could not be brought to this release's schema; it was left as it was."""


def migrate(settings: Settings, *, only: str | None = None) -> list[Migrated]:
    """Every database, or (`only`) the branch named, wherever it lives."""
    from infra import keys
    if only is None:
        keys.prepare(settings.trail_key_file, settings.stage_key_dir, settings.department_key_dir)
    done: list[Migrated] = []
    for url, branches in branches_by_database(settings).items():
        branches = [b for b in branches if only in (None, b)]
        if not branches:
            continue
        database = url.split("?")[0]
        engine = make_engine(url)
        try:
            with engine.begin() as conn:  # every branch of a database, or none of them
                steps = [upgrade(conn, branch, database) for branch in branches]
                if any(step.adopted == "previous-release" for step in steps):
                    _sign_previous_outputs(conn, settings.stage_key_dir)
                done += steps
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise MigrationFailed(f"{database}: {reason} (nothing in it was changed)") from exc
        finally:
            engine.dispose()
    return done


def migrate_url(url: str, branches: tuple[str, ...] = ("runtime", "projections")) -> list[Migrated]:
    """One database given by URL, for these branches: a projection built apart from the
    deployment's (`govshare rebuild --into`, `replay --into`)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            return [upgrade(conn, branch, url.split("?")[0]) for branch in branches]
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise MigrationFailed(f"{url.split('?')[0]}: {reason} (nothing in it was changed)") from exc
    finally:
        engine.dispose()


def _sign_previous_outputs(conn: Connection, stage_key_dir: Path) -> None:
    """The previous release published its outputs unsigned, and this one parks what no stage
    signed (events/provenance.py). Its outbox rows are govshare's own decisions, kept in its own
    database: each is signed now, once, as the database is adopted, by the stage that made it,
    so a rehydrated or relayed row is taken as genuine. A row added later is not: it is signed
    only when a stage stages it."""
    from events.provenance import SIGNATURE
    from infra import keys
    from runtime import store
    signers: dict = {}
    for row in conn.execute(select(store.outbox)).all():
        try:
            out = store.as_outgoing(row)
        except ValueError:  # not what a release wrote: left unsigned, so parked where it is read
            continue
        if any(name == SIGNATURE for name, _ in out.headers):
            continue
        signer = signers.get(row.stage) or signers.setdefault(row.stage, keys.stage_signer(stage_key_dir, row.stage))
        conn.execute(update(store.outbox).where(store.outbox.c.seq == row.seq)
                     .values(headers=store.headers_to_text(signer.sign(out).headers)))


def upgrade(conn: Connection, branch: str, database: str) -> Migrated:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = conn
    script = ScriptDirectory.from_config(config)
    mine = {r.revision for r in script.iterate_revisions(f"{branch}@head", "base")}
    adopted = None
    before = next(iter(set(_heads(conn)) & mine), None)
    if before is None:
        adopted, before = _adopt(conn, branch, script)
        command.stamp(config, before)
    command.upgrade(config, f"{branch}@head")
    return Migrated(database, branch, adopted, before, script.get_revision(f"{branch}@head").revision)


def _heads(conn: Connection) -> tuple[str, ...]:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads()


def _adopt(conn: Connection, branch: str, script: ScriptDirectory) -> tuple[str, str]:
    models = _models()[branch]
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
