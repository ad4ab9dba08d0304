"""Step conditions: ``conditions: {when: "<expression>"}``, a sandboxed Jinja expression.

Checked with the definition (syntax, and that it reads only the playbook's variables and
``steps.<dependency>.output`` / ``.status`` of the steps it depends on), and evaluated
when the step becomes ready: false means the step is skipped with the reason
``condition not met: <expression>``. Pure: no models, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError

from agentical.db.rendering import STEPS, template_references
from agentical.db.sandbox import render_budget, sandbox

STATUS = "status"
OUTPUT = "output"


class ConditionError(ValueError):
    """A condition could not be evaluated; the message never holds a value."""


def condition_template(expression: str) -> str:
    """The template a condition is parsed as: one bracketed expression."""
    return f"{{{{ ({expression}) }}}}"


def _parse(expression: str) -> nodes.Template:
    return sandbox().parse(condition_template(expression))


def condition_problems(
    expression: Any, variables: Collection[str], dependencies: Collection[str]
) -> list[str]:
    """Why ``expression`` is not a valid condition of a step (empty when it is)."""
    if not isinstance(expression, str) or not expression.strip():
        return ["conditions.when must be a non-empty expression"]
    try:
        tree = _parse(expression)
    except TemplateSyntaxError as error:
        return [f"conditions.when is not a valid expression: {error.message}"]
    problems: list[str] = []
    undeclared = meta.find_undeclared_variables(tree) - set(sandbox().globals)
    for name in sorted(undeclared - {STEPS} - set(variables)):
        problems.append(f"conditions.when reads '{name}', which is not a variable")
    if STEPS in undeclared:
        for chain in template_references(condition_template(expression)):
            if chain[0] != STEPS:
                continue
            if len(chain) < 3 or chain[2] not in (OUTPUT, STATUS):
                problems.append(
                    "conditions.when may read steps.<step>.output or steps.<step>.status only"
                )
            elif chain[1] not in dependencies:
                problems.append(
                    f"conditions.when reads step '{chain[1]}', which this step does not depend on"
                )
    return problems


def condition_context(
    variables: Mapping[str, Any], dependencies: Mapping[str, tuple[str, Mapping[str, Any]]]
) -> dict[str, Any]:
    """The variables, plus ``steps.<name>.status`` and ``.output`` of each dependency."""
    steps = {
        name: {STATUS: status, OUTPUT: dict(output)}
        for name, (status, output) in dependencies.items()
    }
    return {**variables, STEPS: steps}


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """The truth of ``expression`` in ``context``; ``ConditionError`` when it cannot be
    evaluated (an output key that is not there, a refused operation)."""
    try:
        with render_budget():
            compiled = sandbox().compile_expression(expression, undefined_to_none=False)
            return bool(compiled(**context))
    except SecurityError:
        reason = "refused: the expression tries to reach Python internals"
    except UndefinedError:
        reason = "it reads a value that is not there"
    except TemplateSyntaxError as error:
        reason = f"invalid expression: {error.message}"
    except Exception as error:  # the type only: the message may hold a value
        reason = f"evaluation failed ({type(error).__name__})"
    raise ConditionError(f"condition could not be evaluated: {reason}")
