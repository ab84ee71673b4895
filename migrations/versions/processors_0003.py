"""The department directory as the validator keeps it (issue #15): department versions and
signing keys. Empty when created: the validator registers the directory of
policies/departments.toml, and the public keys found beside it, on its first start.

Revision ID: processors_0003
Revises: processors_0002
"""
import sqlalchemy as sa
from alembic import op

revision = "processors_0003"
down_revision = "processors_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proc_directory_versions",
        sa.Column("department_id", sa.String(100), primary_key=True),
        sa.Column("since", sa.BigInteger(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
    )
    op.create_table(
        "proc_directory_keys",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("department_id", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger()),
    )
    op.create_index("ix_proc_directory_keys_department_id", "proc_directory_keys", ["department_id"])


def downgrade() -> None:
    raise NotImplementedError("govshare migrates forward only: restore the backup taken before upgrading")
