"""executions newest first: an index for keyset pages of one playbook's history

``(playbook_id, created_at, id)`` on executions: one playbook's executions of every
status, newest first, continued after a cursor ``(created_at, id)``, come from an index
range scan whatever the page (``(playbook_id, status, created_at, id)`` serves one status).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_playbook_executions_playbook_id_created_at",
        "playbook_executions",
        ["playbook_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_playbook_executions_playbook_id_created_at", table_name="playbook_executions")
