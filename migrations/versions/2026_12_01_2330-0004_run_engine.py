"""run engine: each step run carries its place in its plan

Step runs get their step's type, their count of unfinished dependencies, the time a
worker may take them (``claim_due_at``: ready, retry due, or lease expired; empty
otherwise, so finished history never slows a claim), the fencing token of the latest
claim (``attempt``), a per-attempt deadline and who finished them by hand. Executions get
their number of steps, their deadline, the first required step that failed for good, and
who started them. The claim index ``(status, next_attempt_at)`` gives way to
``(claim_due_at)``.

Existing rows are filled in from what the database holds: a running or pending execution
made before this revision is planned from its playbook's current dependency rows, and a
failed step run awaiting a retry becomes a pending one, due at its retry time.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

import agentical.db.types
from agentical.db.migrate import needs_the_database
from agentical.db.sqlite_migrations import batch_alter_table_keeping_rows

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STEP_TYPES = (
    "manual",
    "automated",
    "conditional",
    "parallel",
    "sequential",
    "approval",
    "notification",
    "webhook",
    "script",
    "api_call",
    "database",
    "file_operation",
    "external_tool",
)
PERSON_STEP_TYPES = ("manual", "approval")
UNFINISHED_EXECUTIONS = ("pending", "running", "paused")

step_runs = sa.table(
    "playbook_step_executions",
    sa.column("id", sa.Integer()),
    sa.column("playbook_execution_id", sa.Integer()),
    sa.column("playbook_step_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("retry_count", sa.Integer()),
    sa.column("next_attempt_at", agentical.db.types.UTCDateTime()),
    sa.column("lease_expires_at", agentical.db.types.UTCDateTime()),
    sa.column("created_at", agentical.db.types.UTCDateTime()),
    sa.column("step_type", sa.String()),
    sa.column("unmet_dependencies", sa.Integer()),
    sa.column("claim_due_at", agentical.db.types.UTCDateTime()),
)
executions = sa.table(
    "playbook_executions",
    sa.column("id", sa.Integer()),
    sa.column("playbook_id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("started_at", agentical.db.types.UTCDateTime()),
    sa.column("failed_steps", sa.Integer()),
    sa.column("total_steps", sa.Integer()),
    sa.column("deadline_at", agentical.db.types.UTCDateTime()),
)
steps = sa.table(
    "playbook_steps",
    sa.column("id", sa.Integer()),
    sa.column("step_type", sa.String()),
)
playbooks = sa.table(
    "playbooks",
    sa.column("id", sa.Integer()),
    sa.column("timeout_minutes", sa.Integer()),
)
dependencies = sa.table(
    "playbook_step_dependencies",
    sa.column("step_id", sa.Integer()),
    sa.column("depends_on_step_id", sa.Integer()),
)


def _add_columns() -> None:
    utc = agentical.db.types.UTCDateTime(timezone=True)
    with op.batch_alter_table("playbook_step_executions") as batch:
        batch.add_column(
            sa.Column(
                "step_type",
                sa.Enum(
                    *STEP_TYPES,
                    name="step_type",
                    native_enum=False,
                    create_constraint=False,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch.add_column(
            sa.Column("unmet_dependencies", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("claim_due_at", utc, nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("deadline_at", utc, nullable=True))
        batch.add_column(sa.Column("completed_by", sa.String(length=255), nullable=True))
    with op.batch_alter_table("playbook_executions") as batch:
        batch.add_column(sa.Column("total_steps", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("deadline_at", utc, nullable=True))
        batch.add_column(sa.Column("failed_required_step", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("started_by", sa.String(length=255), nullable=True))


def _fill_existing_rows() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.update(step_runs).values(
            step_type=sa.func.coalesce(
                sa.select(steps.c.step_type)
                .where(steps.c.id == step_runs.c.playbook_step_id)
                .scalar_subquery(),
                "manual",
            )
        )
    )
    bind.execute(
        sa.update(executions).values(
            total_steps=sa.select(sa.func.count())
            .select_from(step_runs)
            .where(step_runs.c.playbook_execution_id == executions.c.id)
            .scalar_subquery()
        )
    )
    open_ids = [
        row.id
        for row in bind.execute(
            sa.select(executions.c.id).where(executions.c.status.in_(UNFINISHED_EXECUTIONS))
        )
    ]
    for execution_id in open_ids:
        _plan_open_execution(bind, execution_id)


def _plan_open_execution(bind: sa.Connection, execution_id: int) -> None:
    runs = bind.execute(
        sa.select(step_runs).where(step_runs.c.playbook_execution_id == execution_id)
    ).all()
    done = {run.playbook_step_id for run in runs if run.status in ("completed", "skipped")}
    step_ids = [run.playbook_step_id for run in runs if run.playbook_step_id is not None]
    edges = bind.execute(sa.select(dependencies).where(dependencies.c.step_id.in_(step_ids))).all()
    unmet: dict[int, int] = {}
    for edge in edges:
        if edge.depends_on_step_id not in done:
            unmet[edge.step_id] = unmet.get(edge.step_id, 0) + 1
    retries = 0
    for run in runs:
        values: dict[str, Any] = {"unmet_dependencies": unmet.get(run.playbook_step_id, 0)}
        for_workers = run.step_type not in PERSON_STEP_TYPES
        if run.status == "failed" and run.next_attempt_at is not None:
            retries += 1
            values.update(
                status="pending",
                retry_count=run.retry_count + 1,
                claim_due_at=run.next_attempt_at if for_workers else None,
            )
        elif run.status == "pending" and for_workers and not values["unmet_dependencies"]:
            values["claim_due_at"] = run.next_attempt_at or run.created_at
        elif run.status == "running":
            values["claim_due_at"] = run.lease_expires_at
        bind.execute(sa.update(step_runs).where(step_runs.c.id == run.id).values(**values))
    execution = bind.execute(
        sa.select(executions.c.started_at, playbooks.c.timeout_minutes)
        .join(playbooks, playbooks.c.id == executions.c.playbook_id)
        .where(executions.c.id == execution_id)
    ).one()
    changes: dict[str, Any] = {}
    if retries:
        changes["failed_steps"] = sa.func.greatest(executions.c.failed_steps - retries, 0)
        if bind.dialect.name == "sqlite":
            changes["failed_steps"] = sa.func.max(executions.c.failed_steps - retries, 0)
    if execution.started_at is not None and execution.timeout_minutes is not None:
        started = execution.started_at
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        changes["deadline_at"] = started + timedelta(minutes=execution.timeout_minutes)
    if changes:
        bind.execute(sa.update(executions).where(executions.c.id == execution_id).values(changes))


def upgrade() -> None:
    needs_the_database(
        "Revision 0004 (the run engine's columns, filled in for stored runs)", op.get_bind()
    )
    _add_columns()
    _fill_existing_rows()
    with batch_alter_table_keeping_rows("playbook_step_executions") as batch:
        batch.alter_column(
            "step_type",
            existing_type=sa.Enum(*STEP_TYPES, name="step_type", native_enum=False, length=32),
            nullable=False,
        )
        batch.alter_column("unmet_dependencies", server_default=None)
        batch.alter_column("attempt", server_default=None)
        batch.create_check_constraint(
            op.f("ck_playbook_step_executions_attempt_non_negative"), "attempt >= 0"
        )
        batch.create_check_constraint(
            op.f("ck_playbook_step_executions_unmet_dependencies_non_negative"),
            "unmet_dependencies >= 0",
        )
    with batch_alter_table_keeping_rows("playbook_executions") as batch:
        batch.alter_column("total_steps", server_default=None)
        batch.create_check_constraint(
            op.f("ck_playbook_executions_total_steps_non_negative"), "total_steps >= 0"
        )
    op.create_index(
        "ix_playbook_step_executions_claim_due_at", "playbook_step_executions", ["claim_due_at"]
    )
    op.create_index(
        "ix_playbook_step_executions_deadline_at", "playbook_step_executions", ["deadline_at"]
    )
    op.create_index("ix_playbook_executions_deadline_at", "playbook_executions", ["deadline_at"])
    op.drop_index(
        "ix_playbook_step_executions_status_next_attempt_at",
        table_name="playbook_step_executions",
    )


def downgrade() -> None:
    op.create_index(
        "ix_playbook_step_executions_status_next_attempt_at",
        "playbook_step_executions",
        ["status", "next_attempt_at"],
    )
    op.drop_index("ix_playbook_executions_deadline_at", table_name="playbook_executions")
    op.drop_index("ix_playbook_step_executions_deadline_at", table_name="playbook_step_executions")
    op.drop_index("ix_playbook_step_executions_claim_due_at", table_name="playbook_step_executions")
    with batch_alter_table_keeping_rows("playbook_executions") as batch:
        batch.drop_constraint(
            op.f("ck_playbook_executions_total_steps_non_negative"), type_="check"
        )
        batch.drop_column("started_by")
        batch.drop_column("failed_required_step")
        batch.drop_column("deadline_at")
        batch.drop_column("total_steps")
    with batch_alter_table_keeping_rows("playbook_step_executions") as batch:
        batch.drop_constraint(
            op.f("ck_playbook_step_executions_unmet_dependencies_non_negative"), type_="check"
        )
        batch.drop_constraint(
            op.f("ck_playbook_step_executions_attempt_non_negative"), type_="check"
        )
        batch.drop_column("completed_by")
        batch.drop_column("deadline_at")
        batch.drop_column("attempt")
        batch.drop_column("claim_due_at")
        batch.drop_column("unmet_dependencies")
        batch.drop_column("step_type")
