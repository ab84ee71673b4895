"""The open catalog (Ningbo Art. 22): each entry's open type (开放属性) as a column, so the
entries whose data is open are listed and filtered like the rest of the catalog; and what an
approved entrustment is of (Ningbo Art. 23: a cooperation, or a contractor entrusted).

Filled in from each entry's stored attributes (NOT_OPEN where they state none); every
entrustment approved before was of a contractor.

Revision ID: projections_0016
Revises: projections_0015
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "projections_0016"
down_revision = "projections_0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("catalog_entries", sa.Column("open_type", sa.String(32)))
    op.create_index("ix_catalog_entries_open_type", "catalog_entries", ["open_type"])
    entries = sa.table("catalog_entries", sa.column("entry_id", sa.String), sa.column("attributes", sa.Text),
                       sa.column("open_type", sa.String))
    conn = op.get_bind()
    for entry_id, attributes in conn.execute(sa.select(entries.c.entry_id, entries.c.attributes)).all():
        open_type = json.loads(attributes).get("open_type") or "NOT_OPEN"
        conn.execute(sa.update(entries).where(entries.c.entry_id == entry_id).values(open_type=open_type))
    op.add_column("entrustments", sa.Column("kind", sa.String(16)))
    op.execute("UPDATE entrustments SET kind = 'ENTRUSTED'")


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
