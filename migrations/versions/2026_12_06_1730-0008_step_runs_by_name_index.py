"""step runs by name: an index for the run engine's writes to named runs of one execution

``(playbook_execution_id, step_name)`` on step executions. A settlement finds the runs it
releases, skips or makes due by their step names; without this index each release read
every run of the execution (a chain of n steps: n releases of n rows).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_playbook_step_executions_execution_id_step_name",
        "playbook_step_executions",
        ["playbook_execution_id", "step_name"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_playbook_step_executions_execution_id_step_name",
        table_name="playbook_step_executions",
    )
