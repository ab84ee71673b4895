"""Alembic migrations for every database govshare creates, so a deployment upgrades in place.

One Alembic environment, three independent branches, one per collection of tables:
`runtime` (runtime/store.py: positions, outbox, parked events; in every stage's database),
`processors` (processors/store.py; in each processor stage's database) and `projections`
(projections/tables.py; in the projector's). A database holds the branches of the stages that
write to it: on SQLite `govshare.db` holds runtime + projections and each processor file
runtime + processors; on PostgreSQL the one shared database holds all three. Each branch's
head is a row of the database's `govshare_schema_version` table. `upgrade.migrate` applies them.
"""
