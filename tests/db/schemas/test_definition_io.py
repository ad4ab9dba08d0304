"""Loading definitions from YAML or JSON, deterministic export, and the published JSON Schema."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agentical.db.schemas.definition_checks import REDACTED
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.definition_io import (
    SCHEMA_FILE,
    definition_json_schema,
    load_definition,
    load_definition_file,
    render_json_schema,
    validate_definition,
    write_json_schema,
)

TEXT = """\
name: Rotate credentials
category: security
steps:
  - name: rotate
    type: automated
    parameters:
      token: "{{ token }}"
      note: |
        Rotated by the playbook.
        Second line.
  - name: announce
    depends_on: [rotate]
    parameters: {message: "done: {{ steps.rotate.output.key_id }}"}
variables:
  - name: token
    sensitive: true
    default: s3cr3t-value
"""


def test_load_from_yaml_text_path_and_json_give_the_same_definition(tmp_path: Path) -> None:
    from_text = load_definition(TEXT)
    path = tmp_path / "rotate.yaml"
    path.write_text(TEXT, encoding="utf-8")
    assert load_definition(path) == from_text
    assert load_definition_file(str(path)) == from_text
    as_json = tmp_path / "rotate.json"
    [token] = from_text.variables
    without_secret = from_text.model_copy(
        update={"variables": [token.model_copy(update={"default_value": None})]}
    )
    as_json.write_text(without_secret.to_json(), encoding="utf-8")
    assert load_definition(as_json) == without_secret


def test_export_is_deterministic_and_survives_load_export_load() -> None:
    definition = load_definition(TEXT.replace("    default: s3cr3t-value\n", ""))
    exported = definition.to_yaml()
    again = load_definition(exported)
    assert again == definition
    assert again.to_yaml() == exported
    assert load_definition(definition.to_json()) == definition
    assert definition.to_json() == again.to_json()


def test_export_keeps_the_field_order_and_uses_short_keys() -> None:
    exported = load_definition(TEXT).to_yaml()
    assert exported.splitlines()[:6] == [
        "name: Rotate credentials",
        "category: security",
        "steps:",
        "- name: rotate",
        "  order: 1",
        "  type: automated",
    ]
    assert "  note: |\n      Rotated by the playbook.\n      Second line.\n" in exported
    assert list(json.loads(load_definition(TEXT).to_json())) == [
        "name",
        "category",
        "steps",
        "variables",
    ]


def test_sensitive_defaults_are_never_exported_and_the_placeholder_is_refused() -> None:
    definition = load_definition(TEXT)
    assert definition.variables[0].default_value == "s3cr3t-value"
    for exported in (definition.to_yaml(), definition.to_json()):
        assert "s3cr3t" not in exported
        assert REDACTED in exported
        with pytest.raises(DefinitionError) as caught:
            load_definition(exported)
        assert [problem.location for problem in caught.value.problems] == ["variables[0].default"]


def test_yaml_syntax_errors_give_line_and_column() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition("name: x\nsteps: [a\n")
    assert caught.value.problems == [
        DefinitionProblem(
            "",
            "not valid YAML or JSON at line 3, column 1: did not find expected ',' or ']'",
        )
    ]


def test_duplicate_keys_are_refused_instead_of_silently_overwritten() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition("name: a\nsteps: []\nsteps: [{name: b}]\n")
    assert caught.value.problems == [
        DefinitionProblem("", "duplicate key 'steps' at line 3, column 1")
    ]


def test_a_scalar_document_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition("just text")
    assert caught.value.problems == [
        DefinitionProblem("", "expected a mapping of playbook fields at the top level")
    ]


def test_a_missing_file_is_an_os_error() -> None:
    with pytest.raises(FileNotFoundError):
        load_definition(Path("does/not/exist.yaml"))
    with pytest.raises(FileNotFoundError):
        load_definition_file("does/not/exist.yaml")


def test_a_str_is_always_text_never_a_file_name(tmp_path: Path) -> None:
    existing = tmp_path / "secret.yaml"
    existing.write_text("server_key: hunter2\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(str(existing))
    assert "server_key" not in str(caught.value)
    long_line = json.dumps({"name": "x" * 250, "category": "testing", "description": "d" * 50})
    assert load_definition(long_line).name == "x" * 250  # no OSError: "File name too long"


def test_problems_of_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("steps: [{name: a, depends_on: [b]}]\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert caught.value.problems == [
        DefinitionProblem("steps[0].depends_on[0]", "unknown step 'b'")
    ]
    assert str(caught.value).startswith(f"invalid playbook definition {path} (1 problem):")


def test_the_json_schema_uses_the_file_keys_and_forbids_unknown_ones() -> None:
    schema = definition_json_schema()
    step = schema["$defs"]["StepDefinition"]
    variable = schema["$defs"]["VariableDefinition"]
    assert {"name", "order", "type", "depends_on", "optional"} <= set(step["properties"])
    assert {"name", "type", "options", "default", "sensitive"} <= set(variable["properties"])
    assert schema["additionalProperties"] is False
    assert step["additionalProperties"] is False


SHORT_STEP = {"name": "check", "order": 1, "type": "automated", "optional": True}
LONG_STEP = {"step_name": "check", "step_order": 1, "step_type": "automated", "is_optional": True}
LONG_VARIABLE = {"variable_name": "region", "variable_type": "select", "enum_values": ["eu"]}


def _document(step: dict[str, Any], **variable: Any) -> dict[str, Any]:
    return {"name": "Check", "category": "maintenance", "steps": [step], "variables": [variable]}


def _library_accepts(document: dict[str, Any]) -> bool:
    try:
        validate_definition(document)
    except DefinitionError:
        return False
    return True


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        (_document(SHORT_STEP, name="region"), True),
        (_document(LONG_STEP, **LONG_VARIABLE), True),
        (_document({**SHORT_STEP, "step_name": "check"}, name="region"), False),
        (_document({"order": 1}, name="region"), False),
        (_document(SHORT_STEP, name="region", variable_name="region"), False),
        (_document(SHORT_STEP), False),
    ],
    ids=["short keys", "long keys", "both spellings", "no name", "variable both", "no var name"],
)
def test_the_shipped_json_schema_agrees_with_the_library(
    document: dict[str, Any], valid: bool
) -> None:
    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    assert validator.is_valid(document) is valid
    assert _library_accepts(document) is valid


def test_the_shipped_json_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render_json_schema(), (
        "playbook.schema.json is stale: run `python scripts/generate_playbook_schema.py`"
    )


def test_write_json_schema_writes_the_rendered_schema(tmp_path: Path) -> None:
    target = write_json_schema(tmp_path / "schema.json")
    assert json.loads(target.read_text(encoding="utf-8")) == definition_json_schema()


def test_the_json_schema_ships_inside_the_package() -> None:
    shipped = resources.files("agentical.db.schemas").joinpath("playbook.schema.json")
    assert json.loads(shipped.read_text(encoding="utf-8")) == definition_json_schema()


def test_an_unquoted_date_in_parameters_is_imported_as_the_text_written() -> None:
    step = "{name: tag, parameters: {freeze_from: 2024-12-20}}"
    definition = load_definition(f"name: x\ncategory: release\nsteps: [{step}]\n")
    assert definition.steps[0].parameters == {"freeze_from": "2024-12-20"}


def test_a_list_as_a_key_is_a_definition_error_with_its_place() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_definition("name: x\ncategory: deployment\n? [a, b]\n: 1\n")
    assert caught.value.problems == [
        DefinitionProblem("", "the key at line 3, column 3 is a list: keys must be strings")
    ]
