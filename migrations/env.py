"""Alembic's entry point, run by migrations.upgrade on a connection it opened: the migration
commits or rolls back with the caller's transaction, so a database is never left half-upgraded
(SQLite and PostgreSQL both change their schema transactionally)."""
from alembic import context

from migrations.upgrade import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE,
                  # SQLite cannot alter most of a table in place: Alembic copies it instead.
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
