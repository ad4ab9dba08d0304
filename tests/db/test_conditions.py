"""Step conditions: checked with the definition, evaluated in the sandbox."""

from __future__ import annotations

import pytest

from agentical.db.conditions import (
    ConditionError,
    condition_context,
    condition_problems,
    evaluate,
)
from agentical.db.limits import MAX_TEMPLATE_NESTING
from agentical.db.models.playbook import DefinitionError
from agentical.db.schemas.definition_io import validate_definition


def test_a_condition_reads_variables_and_its_dependencies_only() -> None:
    assert condition_problems("env == 'prod' and steps.a.output.ok", {"env"}, ["a"]) == []
    assert condition_problems("region == 'eu'", {"env"}, []) == [
        "conditions.when reads 'region', which is not a variable"
    ]
    assert condition_problems("steps.b.output.ok", set(), ["a"]) == [
        "conditions.when reads step 'b', which this step does not depend on"
    ]
    assert condition_problems("steps.a.parameters", set(), ["a"]) == [
        "conditions.when may read steps.<step>.output or steps.<step>.status only"
    ]
    (syntax,) = condition_problems("env ==", {"env"}, [])
    assert syntax.startswith("conditions.when is not a valid expression")
    assert condition_problems("  ", set(), []) == ["conditions.when must be a non-empty expression"]


def test_a_definition_with_a_bad_condition_is_refused_with_its_location() -> None:
    document = {
        "name": "Conditional",
        "category": "testing",
        "steps": [{"name": "a"}, {"name": "b", "conditions": {"when": "steps.a.output.ok"}}],
    }
    with pytest.raises(DefinitionError) as caught:
        validate_definition(document)
    assert [str(problem) for problem in caught.value.problems] == [
        "steps[1].conditions.when: conditions.when reads step 'a', which this step does not "
        "depend on"
    ]


def test_evaluation_is_true_false_or_a_clear_error() -> None:
    context = condition_context({"env": "prod"}, {"a": ("completed", {"count": 3})})
    assert evaluate("env == 'prod' and steps.a.output.count > 2", context) is True
    assert evaluate("steps.a.status == 'failed'", context) is False
    with pytest.raises(ConditionError, match="reads a value that is not there"):
        evaluate("steps.a.output.missing", context)
    with pytest.raises(ConditionError, match="Python internals"):
        evaluate("env.__class__.__mro__", context)


@pytest.mark.parametrize(
    "expression",
    ["(" * 5000 + "env" + ")" * 5000, "not " * 5000 + "env", "1" + " + 1" * 5000],
    ids=["brackets", "not", "chain"],
)
def test_a_condition_nested_too_deep_is_refused_not_a_recursion_error(expression: str) -> None:
    deeper = f"nested deeper than {MAX_TEMPLATE_NESTING} levels"
    assert condition_problems(expression, {"env"}, []) == [
        f"conditions.when is not a valid expression: {deeper}"
    ]
    with pytest.raises(ConditionError, match=f"invalid expression: {deeper}"):
        evaluate(expression, {"env": "prod"})
