"""A whole playbook as one validated document: steps, dependencies and variables.

Short keys are accepted on input (``name``, ``order``, ``type`` for steps; ``name``,
``type``, ``options`` for variables), so template data and hand-written files read
naturally. Cross-field rules (unique names, known dependencies, no cycles, defaults that
fit their variable) are checked here, before anything touches the database.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, model_validator

from agentical.db.enums import PlaybookCategory, StepType, VariableScope, VariableType
from agentical.db.graph import find_cycle
from agentical.db.variables import IDENTIFIER, VariableSpec, validation_errors


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StepDefinition(_Strict):
    step_name: str = Field(
        validation_alias=_alias("step_name", "name"),
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$",
    )
    step_order: int | None = Field(None, ge=1, validation_alias=_alias("step_order", "order"))
    step_type: StepType = Field(StepType.MANUAL, validation_alias=_alias("step_type", "type"))
    display_name: str | None = None
    description: str | None = None
    instructions: str | None = None
    automation_script: str | None = None
    agent_type: str | None = None
    tool_name: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    conditions: dict[str, Any] = Field(default_factory=dict)
    configuration: dict[str, Any] = Field(default_factory=dict)
    verification_method: str | None = None
    verification_criteria: dict[str, Any] = Field(default_factory=dict)
    success_indicators: list[Any] = Field(default_factory=list)
    estimated_duration_minutes: int | None = Field(None, ge=0)
    timeout_minutes: int | None = Field(None, ge=1)
    retry_attempts: int = Field(0, ge=0, le=10)
    retry_delay_seconds: int = Field(30, ge=0)
    is_optional: bool = Field(False, validation_alias=_alias("is_optional", "optional"))
    is_manual: bool = False


class VariableDefinition(_Strict):
    variable_name: str = Field(validation_alias=_alias("variable_name", "name"), max_length=100)
    variable_type: VariableType = Field(
        VariableType.STRING, validation_alias=_alias("variable_type", "type")
    )
    scope: VariableScope = VariableScope.INPUT
    display_name: str | None = None
    description: str | None = None
    is_required: bool = Field(False, validation_alias=_alias("is_required", "required"))
    is_sensitive: bool = Field(False, validation_alias=_alias("is_sensitive", "sensitive"))
    default_value: Any = Field(None, validation_alias=_alias("default_value", "default"))
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = Field(None, ge=0)
    max_length: int | None = Field(None, ge=0)
    pattern: str | None = None
    enum_values: list[Any] = Field(
        default_factory=list, validation_alias=_alias("enum_values", "options")
    )

    @model_validator(mode="after")
    def _check_constraints(self) -> VariableDefinition:
        name = self.variable_name
        if not IDENTIFIER.match(name):
            raise ValueError(f"variable_name '{name}' is not a Python-style identifier")
        low, high = self.min_value, self.max_value
        if low is not None and high is not None and low > high:
            raise ValueError(f"variable '{name}': min_value is greater than max_value")
        shortest, longest = self.min_length, self.max_length
        if shortest is not None and longest is not None and shortest > longest:
            raise ValueError(f"variable '{name}': min_length is greater than max_length")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise ValueError(f"variable '{name}': pattern does not compile: {error}") from None
        choice = self.variable_type in (VariableType.SELECT, VariableType.MULTI_SELECT)
        if choice and not self.enum_values:
            raise ValueError(f"variable '{name}': a {self.variable_type} needs options")
        if self.default_value is not None:
            reasons = validation_errors(self.spec(), self.default_value)
            if reasons:
                raise ValueError(f"variable '{name}': default {'; '.join(reasons)}")
        return self

    def spec(self) -> VariableSpec:
        return VariableSpec(
            name=self.variable_name,
            variable_type=self.variable_type,
            is_required=self.is_required,
            min_value=self.min_value,
            max_value=self.max_value,
            min_length=self.min_length,
            max_length=self.max_length,
            pattern=self.pattern,
            enum_values=tuple(self.enum_values),
        )


class PlaybookDefinition(_Strict):
    name: str | None = Field(None, max_length=255)
    description: str | None = None
    category: PlaybookCategory | None = None
    purpose: str | None = None
    strategy: str | None = None
    tags: list[str] = Field(default_factory=list)
    success_criteria: list[str] = Field(default_factory=list)
    configuration: dict[str, Any] = Field(default_factory=dict)
    timeout_minutes: int | None = Field(None, ge=1)
    retry_attempts: int = Field(0, ge=0, le=10)
    max_concurrent_executions: int = Field(1, ge=1)
    steps: list[StepDefinition] = Field(default_factory=list)
    variables: list[VariableDefinition] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_structure(self) -> PlaybookDefinition:
        problems: list[str] = []
        names: dict[str, int] = {}
        orders: dict[int, int] = {}
        for index, step in enumerate(self.steps):
            if step.step_name in names:
                problems.append(f"steps[{index}].step_name: duplicate step name '{step.step_name}'")
            names.setdefault(step.step_name, index)
            order = step.step_order if step.step_order is not None else index + 1
            if order in orders:
                problems.append(f"steps[{index}].step_order: duplicate step order {order}")
            orders.setdefault(order, index)
        for index, step in enumerate(self.steps):
            for position, dependency in enumerate(step.depends_on):
                if dependency not in names:
                    problems.append(
                        f"steps[{index}].depends_on[{position}]: unknown step '{dependency}'"
                    )
        cycle = find_cycle({step.step_name: step.depends_on for step in self.steps})
        if cycle is not None:
            problems.append(f"steps: dependency cycle {' -> '.join(cycle)}")
        seen: set[str] = set()
        for index, variable in enumerate(self.variables):
            if variable.variable_name in seen:
                problems.append(
                    f"variables[{index}].variable_name: duplicate variable "
                    f"'{variable.variable_name}'"
                )
            seen.add(variable.variable_name)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def ordered_steps(self) -> list[tuple[int, StepDefinition]]:
        """Each step with its effective order (its position when the file gives none)."""
        return [
            (step.step_order if step.step_order is not None else index + 1, step)
            for index, step in enumerate(self.steps)
        ]
