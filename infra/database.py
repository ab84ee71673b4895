"""Database engines for SQLite files and PostgreSQL URLs, set up the same way everywhere."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect

if TYPE_CHECKING:
    from infra.config import Settings


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for `url`; a read-only one refuses every write at the database, which is how
    the trail's readers (`trail`, `verify`, `prove`, `export`) open it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # WAL lets the CLI read while the worker writes; NORMAL sync is safe under WAL.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            if read_only:
                cursor.execute("PRAGMA query_only=ON")
            cursor.close()
            # pysqlite's own transaction handling breaks SAVEPOINT; let SQLAlchemy emit BEGIN.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn):
            # A writer takes the write lock up front: a transaction that reads first and then
            # writes cannot wait for another writer (SQLite answers "database is locked" at
            # once to avoid a deadlock), and the notary, validator and processors share a file.
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if read_only:
        @event.listens_for(engine, "connect")
        def _read_only(dbapi_conn, _record):
            dbapi_conn.autocommit = True
            dbapi_conn.execute("SET default_transaction_read_only = on")
            dbapi_conn.autocommit = False
    return engine


def stage_engines(settings: Settings, stage: str | None = None, *, read_only: bool = False) -> list[Engine]:
    """One engine per distinct database the stages (or the one named) keep their tables in,
    leaving out those not created yet (no `govshare up` has run)."""
    from runtime import store
    engines = []
    for url in dict.fromkeys(u for name, u in settings.stage_urls().items() if stage in (None, name)):
        engine = make_engine(url, read_only=read_only)
        with engine.connect() as conn:
            if inspect(conn).has_table(store.parked.name):
                engines.append(engine)
    return engines
