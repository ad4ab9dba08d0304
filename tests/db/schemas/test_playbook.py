"""Every serialisation of the read and definition schemas masks sensitive values by
default; only the named opt-in ``context={"reveal_secrets": True}`` shows them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.orm import Session

from agentical.db.models.playbook import (
    SECRET_MASK,
    PlaybookExecution,
    PlaybookExecutionRead,
    PlaybookTemplate,
    PlaybookTemplateRead,
    PlaybookVariableRead,
)
from agentical.db.schemas.common import REVEAL_SECRETS
from agentical.db.schemas.definition_checks import REDACTED
from tests.db.sensitive import sensitive_playbook

SECRET = "sentinel-schema-91b2"
REVEAL = {REVEAL_SECRETS: True}


def _execution(session: Session) -> PlaybookExecution:
    playbook = sensitive_playbook(session, SECRET)
    execution = playbook.new_execution({"region": "eu"})
    execution.set_variable("api_key", SECRET, is_output=True)
    session.flush()
    return execution


def _dumps(schema: Any) -> list[str]:
    return [json.dumps(schema.model_dump(mode="json")), schema.model_dump_json(), repr(schema)]


def test_an_execution_read_masks_sensitive_inputs_and_outputs_by_default(
    session: Session,
) -> None:
    execution = _execution(session)
    read = PlaybookExecutionRead.model_validate(execution)
    for dumped in [*_dumps(read), str(read.model_dump())]:
        assert SECRET not in dumped
    assert read.model_dump()["input_variables"] == {"api_key": SECRET_MASK, "region": "eu"}
    assert read.model_dump(context=REVEAL)["output_variables"] == {"api_key": SECRET}


def test_an_execution_read_from_plain_data_masks_every_value(session: Session) -> None:
    data = {**_execution(session).to_dict(), "input_variables": {"anything": SECRET}}
    dumped = PlaybookExecutionRead.model_validate(data).model_dump()
    assert dumped["input_variables"] == {"anything": SECRET_MASK}


def test_a_variable_read_masks_sensitive_values_by_default(session: Session) -> None:
    variable = _execution(session).playbook.variables[0]
    read = PlaybookVariableRead.model_validate(variable)
    assert all(SECRET not in dumped for dumped in _dumps(read))
    assert read.model_dump(context=REVEAL)["default_value"] == SECRET


def test_a_definition_masks_sensitive_defaults_in_every_dump(session: Session) -> None:
    definition = _execution(session).playbook.to_definition()
    for dumped in [*_dumps(definition), definition.to_yaml(), definition.to_json()]:
        assert SECRET not in dumped
    assert definition.model_dump()["variables"][0]["default_value"] == REDACTED
    assert definition.variables[0].default_value == SECRET  # the value itself is kept
    assert definition.to_document(redact=False)["variables"][0]["default"] == SECRET


@pytest.mark.parametrize("spelling", ["default", "default_value"])
def test_a_template_read_masks_sensitive_defaults(spelling: str) -> None:
    template = PlaybookTemplate(
        name="t",
        category="security",
        template_data={
            "steps": [{"name": "a"}],
            "variables": [{"name": "k", "sensitive": True, spelling: SECRET}],
        },
    )
    read = PlaybookTemplateRead.model_validate(template)
    assert all(SECRET not in dumped for dumped in _dumps(read))
    assert SECRET in read.model_dump_json(context=REVEAL)
