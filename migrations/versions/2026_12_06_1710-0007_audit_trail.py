"""audit trail: an append-only table of operator and lifecycle actions

``audit_entries``: who did what (import, publish, archive, start, pause, resume, cancel,
a run's end, approve, reject, a manual step's completion, purge) to which playbook,
execution or step, from which status to which, why, and for which request. No foreign
keys: the rows outlive the executions a purge deletes and the playbooks that are deleted,
so they name them by their public ids. Indexed newest first overall, per playbook (uuid
and name), per execution and per actor.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 17:10:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agentical.db.types

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARIADB_TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}
ACTIONS = (
    "import",
    "publish",
    "archive",
    "deprecate",
    "start",
    "pause",
    "resume",
    "cancel",
    "complete",
    "fail",
    "approve",
    "reject",
    "complete_step",
    "fail_step",
    "retry",
    "purge",
)
NEWEST_FIRST = {
    "ix_audit_entries_created_at": ["created_at", "id"],
    "ix_audit_entries_playbook_uuid_created_at": ["playbook_uuid", "created_at", "id"],
    "ix_audit_entries_playbook_name_created_at": ["playbook_name", "created_at", "id"],
    "ix_audit_entries_execution_id_created_at": ["execution_id", "created_at", "id"],
    "ix_audit_entries_actor_created_at": ["actor", "created_at", "id"],
}


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                *ACTIONS,
                name="action",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("playbook_uuid", sa.Uuid(), nullable=True),
        sa.Column("playbook_name", sa.String(length=255), nullable=True),
        sa.Column("playbook_version", sa.Integer(), nullable=True),
        sa.Column("execution_id", sa.String(length=64), nullable=True),
        sa.Column("step_name", sa.String(length=100), nullable=True),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=255), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entries")),
        **MARIADB_TABLE_OPTIONS,
    )
    for name, columns in NEWEST_FIRST.items():
        op.create_index(name, "audit_entries", columns)


def downgrade() -> None:
    for name in NEWEST_FIRST:
        op.drop_index(name, table_name="audit_entries")
    op.drop_table("audit_entries")
