"""SQLite never gives a deleted row's id again: AUTOINCREMENT on every table

Without it SQLite gives a new row the id of the highest row deleted: after a purge, a new
step run could get the id of a purged one, and a worker still holding that run's lease
(its id and token) could finish the new run's step. PostgreSQL's sequences and MariaDB's
counters (kept across restarts since 10.2.4) never give an id twice; on them this revision
does nothing. On SQLite it rebuilds each table (the keyword
is part of CREATE TABLE), keeping the rows that point at it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from agentical.db.sqlite_migrations import batch_alter_table_keeping_rows

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "users",
    "playbook_templates",
    "playbooks",
    "playbook_steps",
    "playbook_variables",
    "definition_snapshots",
    "playbook_executions",
    "playbook_step_executions",
    "audit_entries",
)


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with batch_alter_table_keeping_rows(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)
