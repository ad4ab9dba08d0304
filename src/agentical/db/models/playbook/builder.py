"""Build a ``Playbook`` with its steps, dependency rows and variables from a definition."""

from __future__ import annotations

from typing import Any

from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.schemas.definition import PlaybookDefinition, StepDefinition, VariableDefinition

_PLAYBOOK_FIELDS = (
    "description",
    "purpose",
    "strategy",
    "tags",
    "success_criteria",
    "configuration",
    "timeout_minutes",
    "retry_attempts",
    "max_concurrent_executions",
)


def _step(order: int, definition: StepDefinition) -> PlaybookStep:
    fields = definition.model_dump(exclude={"step_order", "depends_on"})
    return PlaybookStep(step_order=order, **fields)


def _variable(definition: VariableDefinition) -> PlaybookVariable:
    return PlaybookVariable(**definition.model_dump())


def build_playbook(definition: PlaybookDefinition, **fields: Any) -> Playbook:
    """A new, unsaved playbook. ``fields`` (name, category, created_by...) win over the file."""
    values: dict[str, Any] = {key: getattr(definition, key) for key in _PLAYBOOK_FIELDS}
    if definition.name is not None:
        values["name"] = definition.name
    if definition.category is not None:
        values["category"] = definition.category
    values.update(fields)
    playbook = Playbook(**values)
    steps = {step.step_name: _step(order, step) for order, step in definition.ordered_steps()}
    playbook.steps = sorted(steps.values(), key=lambda step: step.step_order)
    for step in definition.steps:
        steps[step.step_name].depends_on = [steps[name] for name in step.depends_on]
    playbook.variables = [_variable(variable) for variable in definition.variables]
    return playbook
