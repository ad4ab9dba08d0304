"""history and claiming indexes

``(playbook_id, status, created_at, id)`` on executions replaces ``(playbook_id, status)``:
one playbook's executions by status, newest first, and the ids of its executions for
"the steps that fail most" come from the index alone instead of a scan of the table.
``(status, next_attempt_at)`` on step executions serves the workers' claim query, which
looks across executions for pending, expired or retry-due rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 18:45:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Create before drop: MariaDB keeps an index on playbook_id for its foreign key throughout.
    op.create_index(
        "ix_playbook_executions_playbook_id_status_created_at",
        "playbook_executions",
        ["playbook_id", "status", "created_at", "id"],
    )
    op.drop_index("ix_playbook_executions_playbook_id_status", table_name="playbook_executions")
    op.create_index(
        "ix_playbook_step_executions_status_next_attempt_at",
        "playbook_step_executions",
        ["status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_playbook_step_executions_status_next_attempt_at",
        table_name="playbook_step_executions",
    )
    op.create_index(
        "ix_playbook_executions_playbook_id_status",
        "playbook_executions",
        ["playbook_id", "status"],
    )
    op.drop_index(
        "ix_playbook_executions_playbook_id_status_created_at", table_name="playbook_executions"
    )
