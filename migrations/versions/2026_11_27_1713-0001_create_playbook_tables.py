"""create playbook tables

Revision ID: 0001
Revises:
Create Date: 2026-11-27 17:13:14.663180
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agentical.db.types

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("agentical",)
depends_on: str | Sequence[str] | None = None

# Binary collation on MariaDB: case-sensitive like PostgreSQL and SQLite (uniques, enum CHECKs).
MARIADB_TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def upgrade() -> None:
    op.create_table(
        "playbook_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "incident_response",
                "troubleshooting",
                "deployment",
                "maintenance",
                "security",
                "code_review",
                "testing",
                "release",
                "onboarding",
                "monitoring",
                "backup",
                "disaster_recovery",
                "capacity_planning",
                name="category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column(
            "template_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("total_executions", sa.Integer(), nullable=False),
        sa.Column("successful_executions", sa.Integer(), nullable=False),
        sa.Column("failed_executions", sa.Integer(), nullable=False),
        sa.Column("average_execution_time", sa.Double(), nullable=False),
        sa.Column(
            "last_execution_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "average_execution_time >= 0",
            name=op.f("ck_playbook_templates_average_execution_time_non_negative"),
        ),
        sa.CheckConstraint(
            "failed_executions >= 0",
            name=op.f("ck_playbook_templates_failed_executions_non_negative"),
        ),
        sa.CheckConstraint(
            "successful_executions >= 0",
            name=op.f("ck_playbook_templates_successful_executions_non_negative"),
        ),
        sa.CheckConstraint(
            "total_executions >= 0",
            name=op.f("ck_playbook_templates_total_executions_non_negative"),
        ),
        sa.CheckConstraint(
            "usage_count >= 0", name=op.f("ck_playbook_templates_usage_count_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_templates")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_playbook_templates_name_version")),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbook_templates_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("hashed_password", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
        sa.UniqueConstraint("uuid", name=op.f("uq_users_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    op.create_table(
        "playbooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "category",
            sa.Enum(
                "incident_response",
                "troubleshooting",
                "deployment",
                "maintenance",
                "security",
                "code_review",
                "testing",
                "release",
                "onboarding",
                "monitoring",
                "backup",
                "disaster_recovery",
                "capacity_planning",
                name="category",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("strategy", sa.Text(), nullable=True),
        sa.Column(
            "tags",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "success_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "archived",
                "deprecated",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("is_template", sa.Boolean(), nullable=False),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "input_schema",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "output_schema",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("max_concurrent_executions", sa.Integer(), nullable=False),
        sa.Column("timeout_minutes", sa.Integer(), nullable=True),
        sa.Column("retry_attempts", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("parent_playbook_id", sa.Integer(), nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("total_executions", sa.Integer(), nullable=False),
        sa.Column("successful_executions", sa.Integer(), nullable=False),
        sa.Column("failed_executions", sa.Integer(), nullable=False),
        sa.Column("average_execution_time", sa.Double(), nullable=False),
        sa.Column(
            "last_execution_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "average_execution_time >= 0",
            name=op.f("ck_playbooks_average_execution_time_non_negative"),
        ),
        sa.CheckConstraint(
            "failed_executions >= 0", name=op.f("ck_playbooks_failed_executions_non_negative")
        ),
        sa.CheckConstraint(
            "max_concurrent_executions >= 1",
            name=op.f("ck_playbooks_max_concurrent_executions_min"),
        ),
        sa.CheckConstraint(
            "retry_attempts BETWEEN 0 AND 10", name=op.f("ck_playbooks_retry_attempts_range")
        ),
        sa.CheckConstraint(
            "successful_executions >= 0",
            name=op.f("ck_playbooks_successful_executions_non_negative"),
        ),
        sa.CheckConstraint(
            "timeout_minutes IS NULL OR timeout_minutes >= 1", name=op.f("ck_playbooks_timeout_min")
        ),
        sa.CheckConstraint(
            "total_executions >= 0", name=op.f("ck_playbooks_total_executions_non_negative")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_playbooks_version_min")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"],
            ["users.id"],
            name=op.f("fk_playbooks_created_by_user_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_playbooks_parent_playbook_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["playbook_templates.id"],
            name=op.f("fk_playbooks_template_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbooks")),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbooks_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    with op.batch_alter_table("playbooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_playbooks_category"), ["category"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_playbooks_created_by_user_id"), ["created_by_user_id"], unique=False
        )
        batch_op.create_index("ix_playbooks_name_version", ["name", "version"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_playbooks_parent_playbook_id"), ["parent_playbook_id"], unique=False
        )
        batch_op.create_index("ix_playbooks_status_category", ["status", "category"], unique=False)
        batch_op.create_index(batch_op.f("ix_playbooks_template_id"), ["template_id"], unique=False)

    op.create_table(
        "playbook_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("execution_id", sa.String(length=64), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("executed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("triggered_by", sa.String(length=100), nullable=True),
        sa.Column(
            "trigger_context",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "cancelled",
                "paused",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "input_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "output_variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column("started_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("execution_time_seconds", sa.Double(), nullable=True),
        sa.Column("progress_percentage", sa.Double(), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("current_step", sa.String(length=100), nullable=True),
        sa.Column("completed_steps", sa.Integer(), nullable=False),
        sa.Column("failed_steps", sa.Integer(), nullable=False),
        sa.Column("skipped_steps", sa.Integer(), nullable=False),
        sa.Column(
            "success_criteria_met",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("overall_success", sa.Boolean(), nullable=True),
        sa.Column("lessons_learned", sa.Text(), nullable=True),
        sa.Column(
            "status_history",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column(
            "definition_snapshot",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("definition_hash", sa.String(length=64), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "completed_steps >= 0", name=op.f("ck_playbook_executions_completed_steps_non_negative")
        ),
        sa.CheckConstraint(
            "execution_time_seconds IS NULL OR execution_time_seconds >= 0",
            name=op.f("ck_playbook_executions_execution_time_non_negative"),
        ),
        sa.CheckConstraint(
            "failed_steps >= 0", name=op.f("ck_playbook_executions_failed_steps_non_negative")
        ),
        sa.CheckConstraint(
            "progress_percentage >= 0 AND progress_percentage <= 100",
            name=op.f("ck_playbook_executions_progress_range"),
        ),
        sa.CheckConstraint(
            "skipped_steps >= 0", name=op.f("ck_playbook_executions_skipped_steps_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["executed_by_user_id"],
            ["users.id"],
            name=op.f("fk_playbook_executions_executed_by_user_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_playbook_executions_playbook_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_executions")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_playbook_executions_execution_id")),
        sa.UniqueConstraint(
            "playbook_id",
            "idempotency_key",
            name=op.f("uq_playbook_executions_playbook_id_idempotency_key"),
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbook_executions_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    with op.batch_alter_table("playbook_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playbook_executions_executed_by_user_id"),
            ["executed_by_user_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_playbook_executions_playbook_id_status", ["playbook_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_playbook_executions_status_created_at", ["status", "created_at"], unique=False
        )

    op.create_table(
        "playbook_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "step_type",
            sa.Enum(
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
                name="step_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("step_order", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "skipped",
                "active",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_optional", sa.Boolean(), nullable=False),
        sa.Column("is_manual", sa.Boolean(), nullable=False),
        sa.Column(
            "configuration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("instructions", sa.Text(), nullable=True),
        sa.Column("automation_script", sa.Text(), nullable=True),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("agent_type", sa.String(length=100), nullable=True),
        sa.Column("tool_name", sa.String(length=100), nullable=True),
        sa.Column(
            "parameters",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("verification_method", sa.String(length=255), nullable=True),
        sa.Column(
            "verification_criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "success_indicators",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("estimated_duration_minutes", sa.Integer(), nullable=True),
        sa.Column("timeout_minutes", sa.Integer(), nullable=True),
        sa.Column("retry_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delay_seconds", sa.Integer(), nullable=False),
        sa.Column("total_executions", sa.Integer(), nullable=False),
        sa.Column("successful_executions", sa.Integer(), nullable=False),
        sa.Column("failed_executions", sa.Integer(), nullable=False),
        sa.Column("average_execution_time", sa.Double(), nullable=False),
        sa.Column(
            "last_execution_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "average_execution_time >= 0",
            name=op.f("ck_playbook_steps_average_execution_time_non_negative"),
        ),
        sa.CheckConstraint(
            "estimated_duration_minutes IS NULL OR estimated_duration_minutes >= 0",
            name=op.f("ck_playbook_steps_estimated_duration_non_negative"),
        ),
        sa.CheckConstraint(
            "failed_executions >= 0", name=op.f("ck_playbook_steps_failed_executions_non_negative")
        ),
        sa.CheckConstraint(
            "retry_attempts BETWEEN 0 AND 10", name=op.f("ck_playbook_steps_retry_attempts_range")
        ),
        sa.CheckConstraint(
            "retry_delay_seconds >= 0", name=op.f("ck_playbook_steps_retry_delay_non_negative")
        ),
        sa.CheckConstraint("step_order >= 1", name=op.f("ck_playbook_steps_step_order_min")),
        sa.CheckConstraint(
            "successful_executions >= 0",
            name=op.f("ck_playbook_steps_successful_executions_non_negative"),
        ),
        sa.CheckConstraint(
            "timeout_minutes IS NULL OR timeout_minutes >= 1",
            name=op.f("ck_playbook_steps_timeout_min"),
        ),
        sa.CheckConstraint(
            "total_executions >= 0", name=op.f("ck_playbook_steps_total_executions_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_playbook_steps_playbook_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_steps")),
        sa.UniqueConstraint(
            "playbook_id", "step_name", name=op.f("uq_playbook_steps_playbook_id_step_name")
        ),
        sa.UniqueConstraint(
            "playbook_id", "step_order", name=op.f("uq_playbook_steps_playbook_id_step_order")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbook_steps_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    op.create_table(
        "playbook_variables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("playbook_id", sa.Integer(), nullable=False),
        sa.Column("variable_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "variable_type",
            sa.Enum(
                "string",
                "integer",
                "float",
                "boolean",
                "json",
                "select",
                "multi_select",
                "date",
                "datetime",
                "file",
                name="variable_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "scope",
            sa.Enum(
                "input",
                "output",
                "internal",
                name="scope",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("is_required", sa.Boolean(), nullable=False),
        sa.Column("is_sensitive", sa.Boolean(), nullable=False),
        sa.Column(
            "default_value",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column(
            "current_value",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=True,
        ),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("min_length", sa.Integer(), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("pattern", sa.String(length=500), nullable=True),
        sa.Column(
            "enum_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "min_length IS NULL OR max_length IS NULL OR min_length <= max_length",
            name=op.f("ck_playbook_variables_length_range"),
        ),
        sa.CheckConstraint(
            "min_length IS NULL OR min_length >= 0",
            name=op.f("ck_playbook_variables_min_length_non_negative"),
        ),
        sa.CheckConstraint(
            "min_value IS NULL OR max_value IS NULL OR min_value <= max_value",
            name=op.f("ck_playbook_variables_value_range"),
        ),
        sa.ForeignKeyConstraint(
            ["playbook_id"],
            ["playbooks.id"],
            name=op.f("fk_playbook_variables_playbook_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_variables")),
        sa.UniqueConstraint(
            "playbook_id",
            "variable_name",
            name=op.f("uq_playbook_variables_playbook_id_variable_name"),
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbook_variables_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    op.create_table(
        "playbook_step_dependencies",
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("depends_on_step_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "step_id <> depends_on_step_id", name=op.f("ck_playbook_step_dependencies_not_self")
        ),
        sa.ForeignKeyConstraint(
            ["depends_on_step_id"],
            ["playbook_steps.id"],
            name=op.f("fk_playbook_step_dependencies_depends_on_step_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_id"],
            ["playbook_steps.id"],
            name=op.f("fk_playbook_step_dependencies_step_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "step_id", "depends_on_step_id", name=op.f("pk_playbook_step_dependencies")
        ),
        **MARIADB_TABLE_OPTIONS,
    )
    with op.batch_alter_table("playbook_step_dependencies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_playbook_step_dependencies_depends_on_step_id"),
            ["depends_on_step_id"],
            unique=False,
        )

    op.create_table(
        "playbook_step_executions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("playbook_execution_id", sa.Integer(), nullable=False),
        sa.Column("playbook_step_id", sa.Integer(), nullable=True),
        sa.Column("step_name", sa.String(length=100), nullable=False),
        sa.Column("step_order", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "running",
                "completed",
                "failed",
                "skipped",
                "active",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("started_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "input_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "output_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("execution_time_seconds", sa.Double(), nullable=True),
        sa.Column("retry_count", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", agentical.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "execution_time_seconds IS NULL OR execution_time_seconds >= 0",
            name=op.f("ck_playbook_step_executions_execution_time_non_negative"),
        ),
        sa.CheckConstraint(
            "retry_count >= 0", name=op.f("ck_playbook_step_executions_retry_count_non_negative")
        ),
        sa.CheckConstraint(
            "step_order >= 1", name=op.f("ck_playbook_step_executions_step_order_min")
        ),
        sa.ForeignKeyConstraint(
            ["playbook_execution_id"],
            ["playbook_executions.id"],
            name=op.f("fk_playbook_step_executions_playbook_execution_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["playbook_step_id"],
            ["playbook_steps.id"],
            name=op.f("fk_playbook_step_executions_playbook_step_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_step_executions")),
        sa.UniqueConstraint("uuid", name=op.f("uq_playbook_step_executions_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )
    with op.batch_alter_table("playbook_step_executions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_playbook_step_executions_execution_id_order",
            ["playbook_execution_id", "step_order"],
            unique=False,
        )
        batch_op.create_index(
            "ix_playbook_step_executions_execution_id_status",
            ["playbook_execution_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_playbook_step_executions_playbook_step_id"),
            ["playbook_step_id"],
            unique=False,
        )


def downgrade() -> None:
    # Indexes go with their tables (MariaDB refuses to drop one a foreign key still uses).
    op.drop_table("playbook_step_executions")
    op.drop_table("playbook_step_dependencies")
    op.drop_table("playbook_variables")
    op.drop_table("playbook_steps")
    op.drop_table("playbook_executions")
    op.drop_table("playbooks")
    op.drop_table("users")
    op.drop_table("playbook_templates")
