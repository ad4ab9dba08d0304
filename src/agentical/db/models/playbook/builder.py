"""Playbooks to and from definitions: build the rows and read them back."""

from __future__ import annotations

import json
from typing import Any

from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.variable import PlaybookVariable
from agentical.db.rendering import Path, format_path
from agentical.db.schemas.definition import (
    PlaybookDefinition,
    StepDefinition,
    VariableDefinition,
    document_hash,
)
from agentical.db.schemas.definition_checks import REDACTED
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.definition_io import validate_definition

PLAYBOOK_FIELDS = (
    "name",
    "description",
    "category",
    "purpose",
    "strategy",
    "tags",
    "success_criteria",
    "configuration",
    "timeout_minutes",
    "retry_attempts",
    "max_concurrent_executions",
)
STEP_FIELDS = tuple(field for field in StepDefinition.model_fields if field != "depends_on")
VARIABLE_FIELDS = tuple(VariableDefinition.model_fields)


def _step(definition: StepDefinition) -> PlaybookStep:
    return PlaybookStep(**{field: getattr(definition, field) for field in STEP_FIELDS})


def _variable(definition: VariableDefinition) -> PlaybookVariable:
    return PlaybookVariable(**{field: getattr(definition, field) for field in VARIABLE_FIELDS})


def build_playbook(
    definition: PlaybookDefinition | dict[str, Any],
    *,
    prefix: Path = (),
    **fields: Any,
) -> Playbook:
    """A new, unsaved playbook with its steps, dependency rows and variables.

    ``fields`` (name, category, created_by...) win over the definition. A dict is validated
    first; a missing name or category raises ``DefinitionError`` at that field, as does any
    problem of the definition (locations under ``prefix``, e.g. ``template_data``).
    """
    definition = validate_definition(definition, prefix=prefix)
    values: dict[str, Any] = {
        key: getattr(definition, key)
        for key in PLAYBOOK_FIELDS
        if key not in ("name", "category") or getattr(definition, key) is not None
    }
    values.update(fields)
    missing = [
        DefinitionProblem(format_path((*prefix, key)), f"a playbook needs a {key}")
        for key in ("name", "category")
        if values.get(key) is None
    ]
    if missing:
        raise DefinitionError(missing)
    playbook = Playbook(**values)
    steps = {step.step_name: _step(step) for step in definition.steps}
    playbook.steps = list(steps.values())
    for step in definition.steps:
        steps[step.step_name].depends_on = [steps[name] for name in step.depends_on]
    playbook.variables = [_variable(variable) for variable in definition.variables]
    return playbook


def playbook_document(playbook: Playbook) -> dict[str, Any]:
    """The playbook's rows as a definition document (attribute names, nothing validated)."""
    return {
        **{key: getattr(playbook, key) for key in PLAYBOOK_FIELDS},
        "steps": [
            {
                **{field: getattr(step, field) for field in STEP_FIELDS},
                "depends_on": [dependency.step_name for dependency in step.depends_on],
            }
            for step in sorted(playbook.steps, key=lambda step: step.step_order)
        ],
        "variables": [
            {field: getattr(variable, field) for field in VARIABLE_FIELDS}
            for variable in playbook.variables
        ],
    }


def definition_of(playbook: Playbook) -> PlaybookDefinition:
    """The playbook as a validated definition (``DefinitionError`` if its rows are not one)."""
    return validate_definition(
        playbook_document(playbook), subject=f"playbook '{playbook.name}' (id={playbook.id})"
    )


def snapshot_of(playbook: Playbook) -> tuple[dict[str, Any], str]:
    """What an execution keeps of the playbook it ran: the document and its content hash.

    Sensitive defaults are redacted. A playbook whose rows do not form a valid definition
    (built object by object) is still snapshotted, as its raw rows.
    """
    try:
        document = definition_of(playbook).to_document()
    except DefinitionError:
        document = json.loads(json.dumps(playbook_document(playbook), default=str))
        sensitive = {
            variable.variable_name for variable in playbook.variables if variable.is_sensitive
        }
        for variable in document["variables"]:
            if variable["variable_name"] in sensitive and variable["default_value"] is not None:
                variable["default_value"] = REDACTED
    return document, document_hash(document)
