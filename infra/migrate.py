"""`govshare migrate` (and `govshare up` before any stage starts): bring every database the
settings name to the schema this release expects, keeping what they hold (migrations/ holds
the revisions; this module says which database holds which branch of tables)."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import SQLAlchemyError

from audit import keys
from audit.provenance import SIGNATURE
from infra import api_store
from infra.config import Settings
from infra.database import make_engine
from infra.system import SYSTEM
from migrations.upgrade import MigrationFailed, Migrated, upgrade
from processors import store as processor_store
from projections import tables
from runtime import store

# Each branch of tables and its current models: what a fresh database is created from.
MODELS = {"runtime": store.metadata, "processors": processor_store.metadata, "projections": tables.metadata,
          "api": api_store.metadata}


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


def migrate(settings: Settings, *, only: str | None = None) -> list[Migrated]:
    """Every database, or (`only`) the branch named, wherever it lives."""
    if only is None:
        keys.prepare(settings.trail_key_file, settings.stage_key_dir, settings.department_key_dir,
                     SYSTEM.signing_stages())
    done: list[Migrated] = []
    for url, branches in branches_by_database(settings).items():
        branches = [b for b in branches if only in (None, b)]
        if not branches:
            continue
        database = url.split("?")[0]
        engine = make_engine(url)
        try:
            with engine.begin() as conn:  # every branch of a database, or none of them
                steps = [upgrade(conn, branch, database, MODELS[branch]) for branch in branches]
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
            return [upgrade(conn, branch, url.split("?")[0], MODELS[branch]) for branch in branches]
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise MigrationFailed(f"{url.split('?')[0]}: {reason} (nothing in it was changed)") from exc
    finally:
        engine.dispose()


def _sign_previous_outputs(conn: Connection, stage_key_dir: Path) -> None:
    """The previous release published its outputs unsigned, and this one parks what no stage
    signed (audit/provenance.py). Its outbox rows are govshare's own decisions, kept in its own
    database: each is signed now, once, as the database is adopted, by the stage that made it,
    so a rehydrated or relayed row is taken as genuine. A row added later is not: it is signed
    only when a stage stages it."""
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
