"""``PlaybookDefinition``: short keys, normalisation, and every problem reported at its location."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from agentical.db.enums import StepType, VariableType
from agentical.db.schemas.definition import PlaybookDefinition
from agentical.db.schemas.definition_checks import REDACTED
from agentical.db.schemas.definition_errors import DefinitionError, DefinitionProblem
from agentical.db.schemas.definition_io import validate_definition


def document() -> dict[str, Any]:
    return {
        "name": "Failover",
        "category": "incident_response",
        "steps": [
            {"name": "assess", "order": 1, "parameters": {"target": "{{ cluster }}"}},
            {
                "name": "promote",
                "order": 2,
                "type": "automated",
                "depends_on": ["assess"],
                "parameters": {"host": "{{ steps.assess.output.replica }}"},
            },
            {
                "name": "verify",
                "order": 3,
                "depends_on": ["promote"],
                "parameters": {"hosts": ["{{ steps.assess.output.replica }}", "db-{{ cluster }}"]},
            },
        ],
        "variables": [
            {"name": "cluster", "required": True},
            {"name": "severity", "type": "select", "options": ["low", "high"], "default": "low"},
        ],
    }


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(data)
    return [(problem.location, problem.message) for problem in caught.value.problems]


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets ``steps.1.depends_on`` (dots, numbers are list indices)."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
        target: Any = data
        for part in parents:
            target = target[part]
        target[last] = value

    return edit


BAD_DEFINITIONS: list[tuple[str, Edit, list[tuple[str, str]]]] = [
    (
        "duplicate step name",
        _set("steps.2.name", "assess"),
        [("steps[2].name", "duplicate step name 'assess' (also steps[0])")],
    ),
    (
        "duplicate step order",
        _set("steps.2.order", 2),
        [("steps[2].order", "duplicate step order 2 (also steps[1])")],
    ),
    (
        "unknown dependency",
        _set("steps.1.depends_on", ["assess", "asses"]),
        [("steps[1].depends_on[1]", "unknown step 'asses'")],
    ),
    (
        "self dependency",
        _set("steps.0.depends_on", ["assess"]),
        [("steps[0].depends_on[0]", "step 'assess' depends on itself")],
    ),
    (
        "dependency cycle",
        _set("steps.0.depends_on", ["verify"]),
        [("steps[0].depends_on[0]", "dependency cycle: assess -> verify -> promote -> assess")],
    ),
    (
        "default of the wrong type",
        _set("variables.0", {"name": "cluster", "type": "integer", "default": "big"}),
        [("variables[0].default", "invalid default 'big': expected an integer, got str")],
    ),
    (
        "default outside its constraints",
        _set("variables.0", {"name": "cluster", "min_length": 3, "default": "eu"}),
        [("variables[0].default", "invalid default 'eu': must have at least 3 characters")],
    ),
    (
        "select default not among the options",
        _set("variables.1.default", "urgent"),
        [("variables[1].default", "invalid default 'urgent': must be one of: low, high")],
    ),
    (
        "min greater than max",
        _set("variables.0", {"name": "cluster", "type": "integer", "min_value": 5, "max_value": 1}),
        [("variables[0].min_value", "min_value (5) is greater than max_value (1)")],
    ),
    (
        "min length greater than max length",
        _set("variables.0", {"name": "cluster", "min_length": 9, "max_length": 2}),
        [("variables[0].min_length", "min_length (9) is greater than max_length (2)")],
    ),
    (
        "pattern that does not compile",
        _set("variables.0", {"name": "cluster", "pattern": "[a-z"}),
        [
            (
                "variables[0].pattern",
                "pattern does not compile (RE2): missing ]: [a-z",
            )
        ],
    ),
    (
        "placeholder naming no variable",
        _set("steps.0.parameters", {"target": "{{ clutser }}"}),
        [("steps[0].parameters.target", "unknown placeholder 'clutser': not a declared variable")],
    ),
    (
        "placeholder reading a step it does not depend on",
        _set("steps.1.parameters", {"host": "{{ steps.verify.output.host }}"}),
        [
            (
                "steps[1].parameters.host",
                "placeholder 'steps.verify.output.host' reads the output of step 'verify', "
                "which step 'promote' does not depend on",
            )
        ],
    ),
    (
        "placeholder naming an unknown step",
        _set("steps.2.parameters", {"hosts": ["{{ steps.nope.output.host }}"]}),
        [
            (
                "steps[2].parameters.hosts[0]",
                "placeholder 'steps.nope.output.host' names unknown step 'nope'",
            )
        ],
    ),
    (
        "placeholder that is not a template",
        _set("steps.0.parameters", {"target": "{{ cluster "}),
        [
            (
                "steps[0].parameters.target",
                "invalid template: unexpected end of template, expected 'end of print "
                "statement'. (line 1)",
            )
        ],
    ),
    (
        "select without options",
        _set("variables.1", {"name": "severity", "type": "select"}),
        [("variables[1].options", "a select variable needs options")],
    ),
    (
        "duplicate variable",
        _set("variables.1", {"name": "cluster"}),
        [("variables[1].name", "duplicate variable 'cluster' (also variables[0])")],
    ),
    (
        "variable name that is not an identifier",
        _set("variables.1", {"name": "the-severity"}),
        [
            (
                "variables[1].name",
                "'the-severity' is not a Python-style identifier "
                "(letters, digits and '_', not starting with a digit)",
            )
        ],
    ),
    (
        "unknown key",
        _set("steps.0.timeout", 5),
        [("steps[0].timeout", "Extra inputs are not permitted")],
    ),
]


def test_the_reference_document_is_valid() -> None:
    definition = validate_definition(document())
    assert [step.step_name for step in definition.steps] == ["assess", "promote", "verify"]
    assert definition.steps[1].step_type is StepType.AUTOMATED
    assert definition.variables[1].enum_values == ["low", "high"]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [pytest.param(edit, expected, id=rule) for rule, edit, expected in BAD_DEFINITIONS],
)
def test_each_bad_definition_gives_its_location_and_message(
    edit: Edit, expected: list[tuple[str, str]]
) -> None:
    data = copy.deepcopy(document())
    edit(data)
    assert problems(data) == expected


def test_every_problem_is_reported_at_once() -> None:
    data = document()
    data["steps"][0]["depends_on"] = ["verify"]
    data["steps"][1]["retry_attempts"] = 99
    data["steps"][2]["parameters"] = {"x": "{{ missing }}"}
    data["variables"][1]["default"] = "urgent"
    data["colour"] = "blue"
    assert problems(data) == [
        ("steps[1].retry_attempts", "Input should be less than or equal to 10"),
        ("variables[1].default", "invalid default 'urgent': must be one of: low, high"),
        ("colour", "Extra inputs are not permitted"),
        ("steps[0].depends_on[0]", "dependency cycle: assess -> verify -> promote -> assess"),
        ("steps[2].parameters.x", "unknown placeholder 'missing': not a declared variable"),
    ]


def test_two_separate_cycles_are_both_named() -> None:
    data = {
        "steps": [
            {"name": "a", "depends_on": ["b"]},
            {"name": "b", "depends_on": ["a"]},
            {"name": "c", "depends_on": ["d"]},
            {"name": "d", "depends_on": ["c"]},
        ]
    }
    assert problems(data) == [
        ("steps[0].depends_on[0]", "dependency cycle: a -> b -> a"),
        ("steps[2].depends_on[0]", "dependency cycle: c -> d -> c"),
    ]


def test_model_validate_raises_a_validation_error_with_the_same_locations() -> None:
    data = document()
    data["steps"][1]["depends_on"] = ["assess", "nope"]
    with pytest.raises(ValidationError) as caught:
        PlaybookDefinition.model_validate(data)
    [error] = caught.value.errors()
    assert error["loc"] == ("steps", 1, "depends_on", 1)
    assert error["type"] == "unknown_dependency"
    assert isinstance(caught.value, ValueError)


def test_a_failing_sensitive_default_never_appears_in_the_error() -> None:
    data = document()
    data["variables"].append(
        {"name": "token", "sensitive": True, "pattern": "^tok_", "default": "hunter2-secret"}
    )
    with pytest.raises(DefinitionError) as caught:
        validate_definition(data)
    assert caught.value.problems == [
        DefinitionProblem("variables[2].default", "invalid default: must match the pattern '^tok_'")
    ]
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ValidationError) as raw:
        PlaybookDefinition.model_validate(data)
    assert "hunter2" not in str(raw.value)
    assert "hunter2" not in repr(raw.value.errors())


def test_long_keys_are_accepted_as_well_as_short_ones() -> None:
    definition = validate_definition(
        {
            "steps": [
                {"step_name": "a", "step_order": 1, "step_type": "script", "is_optional": True},
                {"name": "b", "order": 2, "type": "script", "optional": True},
            ],
            "variables": [
                {"variable_name": "x", "variable_type": "select", "enum_values": ["p"]},
                {"name": "y", "type": "select", "options": ["p"], "default_value": "p"},
            ],
        }
    )
    first, second = definition.steps
    assert (first.step_type, first.is_optional) == (second.step_type, second.is_optional)
    assert definition.variables[0].enum_values == definition.variables[1].enum_values == ["p"]


def test_a_step_without_type_is_manual_and_without_order_takes_its_position() -> None:
    definition = validate_definition({"steps": [{"name": "a"}, {"name": "b"}]})
    assert [(step.step_type, step.step_order) for step in definition.steps] == [
        (StepType.MANUAL, 1),
        (StepType.MANUAL, 2),
    ]


def test_a_valid_definition_is_normalised() -> None:
    definition = validate_definition(
        {
            "name": "  Padded  ",
            "tags": ["DB", "db", " Failover "],
            "success_criteria": ["up", "up"],
            "steps": [
                {"name": "c", "order": 3, "depends_on": ["b", "a", "b"]},
                {"name": "a", "order": 1},
                {"name": "b", "order": 2},
            ],
            "variables": [{"name": "day", "type": "date", "default": "2026-11-27"}],
        }
    )
    assert definition.name == "Padded"
    assert definition.tags == ["db", "failover"]
    assert definition.success_criteria == ["up"]
    assert [step.step_name for step in definition.steps] == ["a", "b", "c"]
    assert definition.step("c").depends_on == ["a", "b"]
    assert definition.variables[0].variable_type is VariableType.DATE
    assert validate_definition(definition.to_document()) == definition


def test_the_redacted_placeholder_is_refused_as_a_value() -> None:
    data = document()
    data["variables"].append({"name": "token", "sensitive": True, "default": REDACTED})
    assert problems(data) == [
        (
            "variables[2].default",
            "the default is the placeholder of an exported sensitive value, not a value: "
            "remove it or give the real default",
        )
    ]


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(DefinitionError) as caught:
        validate_definition(["steps"])
    assert caught.value.problems == [
        DefinitionProblem("", "expected a mapping of playbook fields at the top level")
    ]


def test_the_error_message_lists_every_problem_on_its_own_line() -> None:
    data = document()
    data["steps"][1]["depends_on"] = ["assess", "x", "y"]
    with pytest.raises(DefinitionError) as caught:
        validate_definition(data, subject="playbook definition failover.yaml")
    assert str(caught.value) == (
        "invalid playbook definition failover.yaml (2 problems):\n"
        "  steps[1].depends_on[1]: unknown step 'x'\n"
        "  steps[1].depends_on[2]: unknown step 'y'"
    )


def test_repr_and_str_never_show_a_sensitive_default() -> None:
    data = document()
    data["variables"].append({"name": "token", "sensitive": True, "default": "hunter2-secret"})
    data["variables"].append({"name": "label", "default": "visible"})
    definition = validate_definition(data)
    for text in (repr(definition), str(definition), repr(definition.variables[2])):
        assert "hunter2" not in text
        assert REDACTED in text
    assert "visible" in repr(definition)
    assert definition.variables[2].default_value == "hunter2-secret"
