"""Read schemas behind the playbook models' ``to_dict``.

They read ORM attributes (``from_attributes``) and never import the models. Values of
sensitive variables are replaced by ``SECRET_MASK`` here, at the one place every
serialisation goes through, and by default: ``model_dump()``, ``model_dump_json()`` and
FastAPI's ``response_model=`` all mask. Only a dump given the context
``{"reveal_secrets": True}`` shows them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    FieldSerializationInfo,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_serializer,
    model_validator,
)

from agentical.db.enums import (
    ExecutionStatus,
    PlaybookCategory,
    PlaybookStatus,
    StepStatus,
    StepType,
    VariableScope,
    VariableType,
)
from agentical.db.schemas.common import (
    SECRET_MASK,
    ORMRead,
    mask_definition_secrets,
    mask_secrets,
    reveals_secrets,
)


class PerformanceRead(ORMRead):
    total_executions: int
    successful_executions: int
    failed_executions: int
    average_execution_time: float
    last_execution_at: datetime | None
    success_rate: float


class PlaybookRead(PerformanceRead):
    name: str
    description: str | None
    category: PlaybookCategory
    purpose: str | None
    strategy: str | None
    tags: list[str]
    success_criteria: list[str]
    status: PlaybookStatus
    is_public: bool
    is_template: bool
    configuration: dict[str, Any]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    max_concurrent_executions: int
    timeout_minutes: int | None
    retry_attempts: int
    version: int
    published_at: datetime | None
    parent_playbook_id: int | None
    template_id: int | None
    created_by: str | None
    created_by_user_id: int | None
    step_count: int
    is_executable: bool


class PlaybookStepRead(PerformanceRead):
    playbook_id: int | None
    step_name: str
    display_name: str | None
    description: str | None
    step_type: StepType
    step_order: int
    status: StepStatus
    is_optional: bool
    is_manual: bool
    configuration: dict[str, Any]
    instructions: str | None
    automation_script: str | None
    conditions: dict[str, Any]
    agent_type: str | None
    tool_name: str | None
    parameters: dict[str, Any]
    verification_method: str | None
    verification_criteria: dict[str, Any]
    success_indicators: list[Any]
    estimated_duration_minutes: int | None
    timeout_minutes: int | None
    retry_attempts: int
    retry_delay_seconds: int
    depends_on_step_ids: list[int | None]


class PlaybookVariableRead(ORMRead):
    playbook_id: int | None
    variable_name: str
    display_name: str | None
    description: str | None
    variable_type: VariableType
    scope: VariableScope
    is_required: bool
    is_sensitive: bool
    default_value: Any
    current_value: Any
    min_value: float | None
    max_value: float | None
    min_length: int | None
    max_length: int | None
    pattern: str | None
    enum_values: list[Any]

    @field_serializer("default_value", "current_value")
    def _mask_sensitive(self, value: Any, info: FieldSerializationInfo) -> Any:
        hidden = self.is_sensitive and value is not None and not reveals_secrets(info)
        return SECRET_MASK if hidden else value


class PlaybookExecutionRead(ORMRead):
    execution_id: str
    playbook_id: int | None
    executed_by_user_id: int | None
    triggered_by: str | None
    trigger_context: dict[str, Any]
    status: ExecutionStatus
    input_variables: dict[str, Any]
    output_variables: dict[str, Any]
    error_message: str | None
    cancellation_reason: str | None
    started_at: datetime | None
    started_by: str | None
    completed_at: datetime | None
    execution_time_seconds: float | None
    duration_seconds: float | None
    progress_percentage: float
    status_message: str | None
    current_step: str | None
    completed_steps: int
    failed_steps: int
    skipped_steps: int
    success_criteria_met: dict[str, bool]
    overall_success: bool | None
    lessons_learned: str | None
    status_history: list[dict[str, Any]]

    _secret_names: set[str] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_secret_names(
        cls, data: Any, handler: ModelWrapValidatorHandler[PlaybookExecutionRead]
    ) -> PlaybookExecutionRead:
        """Read from an execution, the schema knows which of its variables are sensitive."""
        read = handler(data)
        secret_names = getattr(data, "secret_names", None)
        if callable(secret_names):
            read._secret_names = secret_names()
        return read

    @field_serializer("input_variables", "output_variables")
    def _mask_sensitive(
        self, values: dict[str, Any], info: FieldSerializationInfo
    ) -> dict[str, Any]:
        """The sensitive values masked: those the context names, else those the execution
        declared, else (unknown) every value."""
        if reveals_secrets(info):
            return values
        context = info.context if isinstance(info.context, dict) else {}
        names = context.get("secret_names", self._secret_names)
        return mask_secrets(values, set(values) if names is None else names)


class DefinitionSnapshotRead(ORMRead):
    content_hash: str
    document: dict[str, Any]


class PlaybookStepExecutionRead(ORMRead):
    playbook_execution_id: int | None
    playbook_step_id: int | None
    step_name: str | None
    step_order: int
    step_type: StepType | None
    status: StepStatus
    started_at: datetime | None
    completed_at: datetime | None
    input_data: dict[str, Any]
    output_data: dict[str, Any]
    error_message: str | None
    execution_time_seconds: float | None
    duration_seconds: float | None
    retry_count: int
    claimed_by: str | None  # the worker that took its latest attempt
    completed_by: str | None  # the person who completed, approved or rejected it


class PlaybookTemplateRead(PerformanceRead):
    name: str
    description: str | None
    category: PlaybookCategory
    version: str
    template_data: dict[str, Any]
    created_by: str | None
    usage_count: int
    is_public: bool

    @field_serializer("template_data")
    def _mask_sensitive_defaults(
        self, data: dict[str, Any], info: FieldSerializationInfo
    ) -> dict[str, Any]:
        return data if reveals_secrets(info) else mask_definition_secrets(data)


class PlaybookDetailRead(PlaybookRead):
    """A playbook with its steps (in order, with their dependency ids) and its variables
    (sensitive values masked): a detail view in one ``model_validate``. Load the playbook
    with ``Playbook.select_full()`` and validating it sends no query."""

    steps: list[PlaybookStepRead]
    variables: list[PlaybookVariableRead]


class ExecutionDetailRead(PlaybookExecutionRead):
    """An execution with its step runs, in step order. Dump it with the execution's
    ``serialization_context()`` so that sensitive inputs are masked
    (``agentical.db.details.execution_detail`` does both)."""

    step_executions: list[PlaybookStepExecutionRead]
