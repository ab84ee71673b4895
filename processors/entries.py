"""The deadline engine's copy of each catalog entry's provider and update cycle (更新周期), kept
from the catalog's events like any other input: an entry's aggregated data must be refreshed
within the cycle its current version states (Ningbo Art. 26), by its provider; the providers of
two entries whose values conflict negotiate (GD-2018 Art. 13). A revision's cycle applies once
approved.

An entry registered before this copy was kept has no row: its freshness runs from its next
revision."""
from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from processors.store import entries as table


def put(tx: Connection, entry_id: str, provider: str, frequency: str) -> None:
    tx.execute(delete(table).where(table.c.entry_id == entry_id))
    tx.execute(insert(table), dict(entry_id=entry_id, provider=provider, update_frequency=frequency.strip()))


def propose(tx: Connection, entry_id: str, revision_id: str, frequency: str) -> None:
    tx.execute(update(table).where(table.c.entry_id == entry_id)
               .values(pending_revision_id=revision_id, pending_frequency=frequency.strip()))


def approve(tx: Connection, entry_id: str, revision_id: str) -> None:
    row = tx.execute(select(table.c.pending_frequency).where(
        table.c.entry_id == entry_id, table.c.pending_revision_id == revision_id)).first()
    if row is not None:
        tx.execute(update(table).where(table.c.entry_id == entry_id).values(
            update_frequency=row.pending_frequency, pending_revision_id=None, pending_frequency=None))


def frequency_of(conn: Connection, entry_id: str) -> str | None:
    return conn.execute(select(table.c.update_frequency).where(table.c.entry_id == entry_id)).scalar()


def providers_of(conn: Connection, entry_ids: list[str]) -> list[str]:
    """The providers of these entries, as far as this copy knows them."""
    rows = conn.execute(select(table.c.provider).where(table.c.entry_id.in_(sorted(entry_ids))))
    return sorted({r.provider for r in rows})
