"""unique playbook name and version

Importing a definition whose name exists creates the next version; the database now
guarantees that two imports racing for the same name cannot both create it. The unique
index replaces the plain (name, version) index and keeps serving lookups by name.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 17:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A unique index, not a constraint: SQLite then needs no table rebuild.
    op.drop_index("ix_playbooks_name_version", table_name="playbooks")
    op.create_index("ix_playbooks_name_version", "playbooks", ["name", "version"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_playbooks_name_version", table_name="playbooks")
    op.create_index("ix_playbooks_name_version", "playbooks", ["name", "version"], unique=False)
