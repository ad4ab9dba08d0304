"""executions newest first across playbooks: an index for the unfiltered run list

``(created_at, id)`` on executions: the runs of every playbook, newest first, continued
after a cursor ``(created_at, id)`` (``history.recent_executions()`` without a status, the
API's and the run pages' list), come from an index range scan instead of a sort of every
execution.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_playbook_executions_created_at", "playbook_executions", ["created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_playbook_executions_created_at", table_name="playbook_executions")
