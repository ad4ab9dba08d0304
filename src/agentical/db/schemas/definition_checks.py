"""Cross-field checks of a playbook definition, as pure functions over plain facts.

They run on the validated document and also, leniently, on raw input that failed field
validation, so one pass reports every problem: duplicate step names and orders, unknown
dependencies, dependency cycles, duplicate variables and placeholders that name neither a
declared variable nor the output of a step the step depends on. ``limit_problems`` runs
first, on the raw input, so that nothing else ever sees a document over the limits. Each
check is linear in the size of the definition.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentical.db.conditions import condition_problems, condition_template
from agentical.db.enums import VariableType
from agentical.db.graph import DependencyWalk, Reach, walk_dependencies
from agentical.db.limits import (
    MAX_STEPS,
    MAX_TEMPLATE_TOKENS,
    MAX_VALUE_BYTES,
    MAX_VARIABLES,
    count_problem,
    json_refusal,
    scan_value,
)
from agentical.db.patterns import pattern_error
from agentical.db.plan import CONDITION_KEY
from agentical.db.rendering import (
    OUTPUT,
    STEPS,
    Path,
    PlaceholderSyntaxError,
    iter_strings,
    step_output_reference,
    template_references,
    template_tokens,
)
from agentical.db.schemas.definition_errors import Problem
from agentical.db.variables import IDENTIFIER, VariableSpec, validation_errors

REDACTED = "<sensitive: not exported>"
"""What an export writes instead of a sensitive default; never accepted as a value."""


@dataclass(frozen=True)
class StepFacts:
    index: int
    name: str | None
    order: int | None
    depends_on: tuple[str | None, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)


def _first(raw: Mapping[str, Any], *keys: str) -> Any:
    return next((raw[key] for key in keys if key in raw), None)


def raw_step_facts(index: int, raw: Any) -> StepFacts:
    """What can be read from a step that may have failed validation."""
    if not isinstance(raw, Mapping):
        return StepFacts(index, None, None)
    name = _first(raw, "name", "step_name")
    order = _first(raw, "order", "step_order")
    if order is None and "order" not in raw and "step_order" not in raw:
        order = index + 1
    depends_on = raw.get("depends_on")
    parameters = raw.get("parameters")
    conditions = raw.get("conditions")
    return StepFacts(
        index=index,
        name=name if isinstance(name, str) else None,
        order=order if isinstance(order, int) and not isinstance(order, bool) else None,
        depends_on=tuple(
            item if isinstance(item, str) else None
            for item in (depends_on if isinstance(depends_on, list) else [])
        ),
        parameters=parameters if isinstance(parameters, Mapping) else {},
        conditions=conditions if isinstance(conditions, Mapping) else {},
    )


def raw_variable_name(raw: Any) -> str | None:
    name = _first(raw, "name", "variable_name") if isinstance(raw, Mapping) else None
    return name if isinstance(name, str) else None


def _duplicates(steps: Sequence[StepFacts]) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[str, int] = {}
    orders: dict[int, int] = {}
    for step in steps:
        if step.name is not None:
            if step.name in names:
                problems.append(
                    Problem(
                        (STEPS, step.index, "name"),
                        "duplicate_step_name",
                        f"duplicate step name '{step.name}' (also steps[{names[step.name]}])",
                    )
                )
            names.setdefault(step.name, step.index)
        if step.order is not None:
            if step.order in orders:
                problems.append(
                    Problem(
                        (STEPS, step.index, "order"),
                        "duplicate_step_order",
                        f"duplicate step order {step.order} (also steps[{orders[step.order]}])",
                    )
                )
            orders.setdefault(step.order, step.index)
    return problems


def _dependencies(steps: Sequence[StepFacts], known: set[str]) -> list[Problem]:
    problems: list[Problem] = []
    for step in steps:
        for position, dependency in enumerate(step.depends_on):
            where = (STEPS, step.index, "depends_on", position)
            if dependency is None:
                continue  # not a string: field validation already said so
            if dependency == step.name:
                problems.append(
                    Problem(where, "self_dependency", f"step '{step.name}' depends on itself")
                )
            elif dependency not in known:
                problems.append(
                    Problem(where, "unknown_dependency", f"unknown step '{dependency}'")
                )
    return problems


def dependency_graph(steps: Sequence[StepFacts], known: set[str]) -> dict[str, list[str]]:
    """``{step: [steps it depends on]}`` over known names, without self-edges."""
    graph: dict[str, list[str]] = {}
    for step in steps:
        if step.name is None or step.name in graph:
            continue
        graph[step.name] = [
            dependency
            for dependency in step.depends_on
            if dependency is not None and dependency in known and dependency != step.name
        ]
    return graph


def _cycles(steps: Sequence[StepFacts], walk: DependencyWalk[str]) -> list[Problem]:
    """Every cycle the walk found, each named once (``a -> b -> a``), at the edge from its
    first step (in document order) to the next one."""
    problems: list[Problem] = []
    first = {step.name: step for step in reversed(steps) if step.name is not None}
    for found in walk.cycles:
        ring = found[:-1]
        start = min(range(len(ring)), key=lambda i: first[ring[i]].index)
        cycle = [*ring[start:], *ring[:start], ring[start]]
        step = first[cycle[0]]
        position = step.depends_on.index(cycle[1])
        problems.append(
            Problem(
                (STEPS, step.index, "depends_on", position),
                "dependency_cycle",
                f"dependency cycle: {' -> '.join(cycle)}",
            )
        )
    if walk.cycles_left_out:
        problems.append(
            Problem(
                (STEPS,),
                "dependency_cycle",
                f"{walk.cycles_left_out:,} more dependency cycles, not listed",
            )
        )
    return problems


def _reference_problem(
    chain: tuple[str, ...],
    step: StepFacts,
    variables: set[str],
    graph: dict[str, list[str]],
    reach: Reach[str],
) -> str | None:
    dotted = ".".join(chain)
    if chain[0] != STEPS:
        if chain[0] in variables:
            return None
        return f"unknown placeholder '{chain[0]}': not a declared variable"
    target = step_output_reference(chain)
    if target is None:
        return f"placeholder '{dotted}' must read a step output as steps.<step>.{OUTPUT}.<key>"
    if target not in graph:
        return f"placeholder '{dotted}' names unknown step '{target}'"
    if step.name is None or not reach.depends_on(step.name, target):
        return (
            f"placeholder '{dotted}' reads the output of step '{target}', "
            f"which step '{step.name}' does not depend on"
        )
    return None


def _placeholders(
    steps: Sequence[StepFacts],
    variables: set[str],
    graph: dict[str, list[str]],
    walk: DependencyWalk[str],
) -> list[Problem]:
    problems: list[Problem] = []
    first = {step.name: step.index for step in reversed(steps)}
    found: list[tuple[Path, StepFacts, list[tuple[str, ...]]]] = []
    for step in steps:
        if first[step.name] != step.index:
            continue  # a duplicate name: its dependencies are not its own, say nothing more
        for path, text in iter_strings(step.parameters, (STEPS, step.index, "parameters")):
            try:
                found.append((path, step, template_references(text)))
            except PlaceholderSyntaxError as error:
                problems.append(Problem(path, "invalid_template", str(error)))
    targets = (step_output_reference(chain) for _, _, chains in found for chain in chains)
    reach = Reach(graph, walk, (target for target in targets if target in graph))
    for path, step, chains in found:
        for chain in chains:
            message = _reference_problem(chain, step, variables, graph, reach)
            if message is not None:
                problems.append(Problem(path, "unknown_placeholder", message))
    return problems


def _conditions(
    steps: Sequence[StepFacts], variables: set[str], graph: dict[str, list[str]]
) -> list[Problem]:
    problems: list[Problem] = []
    for step in steps:
        if CONDITION_KEY not in step.conditions or step.name is None:
            continue
        path = (STEPS, step.index, "conditions", CONDITION_KEY)
        dependencies = graph.get(step.name, [])
        for message in condition_problems(step.conditions[CONDITION_KEY], variables, dependencies):
            problems.append(Problem(path, "invalid_condition", message))
    return problems


def _duplicate_variables(names: Sequence[str | None]) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            problems.append(
                Problem(
                    ("variables", index, "name"),
                    "duplicate_variable",
                    f"duplicate variable '{name}' (also variables[{seen[name]}])",
                )
            )
        seen.setdefault(name, index)
    return problems


def structure_problems(
    steps: Sequence[StepFacts], variable_names: Sequence[str | None]
) -> list[Problem]:
    """Every cross-field problem of a definition's steps and variables."""
    known = {step.name for step in steps if step.name is not None}
    graph = dependency_graph(steps, known)
    walk = walk_dependencies(graph)
    variables = {name for name in variable_names if name is not None}
    return [
        *_duplicates(steps),
        *_dependencies(steps, known),
        *_cycles(steps, walk),
        *_duplicate_variables(variable_names),
        *_placeholders(steps, variables, graph, walk),
        *_conditions(steps, variables, graph),
    ]


_FREE_STEP_FIELDS = (
    "parameters",
    "conditions",
    "configuration",
    "verification_criteria",
    "success_indicators",
)
_FREE_VARIABLE_FIELDS = ("default", "default_value", "options", "enum_values")


def _free_values(raw: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """The free-form JSON values of a raw definition, with their paths."""
    if "configuration" in raw:
        yield ("configuration",), raw["configuration"]
    for section, fields in ((STEPS, _FREE_STEP_FIELDS), ("variables", _FREE_VARIABLE_FIELDS)):
        items = raw.get(section)
        for index, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, Mapping):
                for key in fields:
                    if key in item:
                        yield (section, index, key), item[key]


def _templates(raw: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """The strings of a raw definition that are parsed as templates, with their paths: the
    parameters' strings and each condition, as it is parsed."""
    items = raw.get(STEPS)
    for index, step in enumerate(items if isinstance(items, list) else []):
        if not isinstance(step, Mapping):
            continue
        yield from iter_strings(step.get("parameters"), (STEPS, index, "parameters"))
        conditions = step.get("conditions")
        when = conditions.get(CONDITION_KEY) if isinstance(conditions, Mapping) else None
        if isinstance(when, str):
            yield (STEPS, index, "conditions", CONDITION_KEY), condition_template(when)


def _template_tokens_problem(raw: Mapping[str, Any]) -> Problem | None:
    """Over ``MAX_TEMPLATE_TOKENS``, found by lexing before anything is parsed; a template
    repeated on many steps is parsed once, so it counts once."""
    left = MAX_TEMPLATE_TOKENS
    seen: set[str] = set()
    for path, text in _templates(raw):
        if text in seen:
            continue
        seen.add(text)
        left -= template_tokens(text, left)
        if left < 0:
            return Problem(
                path,
                "templates_too_large",
                f"the templates hold more than {MAX_TEMPLATE_TOKENS:,} tokens in all "
                "(each distinct template counted once)",
            )
    return None


def limit_problems(raw: Any) -> list[Problem]:
    """The limits a raw definition breaks (see ``agentical.db.limits``), checked before any
    other validation: counts first, then one bounded walk, then each free value's size as
    JSON, which a value JSON cannot hold (given as data, not parsed from text) fails."""
    if not isinstance(raw, Mapping):
        return []
    problems: list[Problem] = []
    for section, maximum in ((STEPS, MAX_STEPS), ("variables", MAX_VARIABLES)):
        items = raw.get(section)
        message = count_problem(section, len(items), maximum) if isinstance(items, list) else None
        if message is not None:
            problems.append(Problem((section,), "too_many_items", message))
    if problems:
        return problems
    problems = [Problem(found.path, found.kind, found.message) for found in scan_value(raw)]
    if problems:
        return problems
    for path, value in _free_values(raw):
        try:
            size = len(json.dumps(value, ensure_ascii=False, allow_nan=False))
        except (TypeError, ValueError) as error:  # a date, a set, bytes, a NaN or date key
            problems.append(Problem(path, "not_json", f"not JSON data: {json_refusal(error)}"))
            continue
        if size > MAX_VALUE_BYTES:
            problems.append(
                Problem(path, "value_too_large", f"larger than {MAX_VALUE_BYTES:,} bytes as JSON")
            )
    if problems:
        return problems
    too_many = _template_tokens_problem(raw)
    return [] if too_many is None else [too_many]


def quoted(value: Any, *, limit: int = 60) -> str:
    """A short ``repr`` of a (non-sensitive) value for a message; escapes stay escaped.

    A value ``repr`` cannot show (an integer of more digits than Python converts, nesting
    past the recursion limit, a failing ``__repr__``) is named by its type, so that the
    message about an invalid value is not replaced by an error of its own.
    """
    try:
        text = repr(value)
    except Exception:
        return f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def variable_problems(spec: VariableSpec, default: Any, *, sensitive: bool = True) -> list[Problem]:
    """Problems of one variable: its name, its constraints, and its default against them.

    The message quotes a failing default unless the variable is ``sensitive``.
    """
    problems: list[Problem] = []
    if not IDENTIFIER.match(spec.name):
        problems.append(
            Problem(
                ("name",),
                "invalid_variable_name",
                f"'{spec.name}' is not a Python-style identifier "
                "(letters, digits and '_', not starting with a digit)",
            )
        )
    elif spec.name == STEPS:
        problems.append(Problem(("name",), "reserved_variable_name", "'steps' is reserved"))
    low, high = spec.min_value, spec.max_value
    if low is not None and high is not None and low > high:
        problems.append(
            Problem(
                ("min_value",),
                "min_greater_than_max",
                f"min_value ({low:g}) is greater than max_value ({high:g})",
            )
        )
    shortest, longest = spec.min_length, spec.max_length
    if shortest is not None and longest is not None and shortest > longest:
        problems.append(
            Problem(
                ("min_length",),
                "min_greater_than_max",
                f"min_length ({shortest}) is greater than max_length ({longest})",
            )
        )
    if spec.pattern is not None and (reason := pattern_error(spec.pattern)) is not None:
        problems.append(
            Problem(("pattern",), "invalid_pattern", f"pattern does not compile (RE2): {reason}")
        )
    choice = spec.variable_type in (VariableType.SELECT, VariableType.MULTI_SELECT)
    if choice and not spec.enum_values:
        problems.append(
            Problem(
                ("options",), "missing_options", f"a {spec.variable_type} variable needs options"
            )
        )
    if default == REDACTED:
        problems.append(
            Problem(
                ("default",),
                "redacted_default",
                "the default is the placeholder of an exported sensitive value, not a value: "
                "remove it or give the real default",
            )
        )
    elif default is not None and not problems:
        reasons = validation_errors(spec, default)
        if reasons:
            shown = "" if sensitive else f" {quoted(default)}"
            problems.append(
                Problem(
                    ("default",), "invalid_default", f"invalid default{shown}: {'; '.join(reasons)}"
                )
            )
    return problems
