"""Hostile definitions are refused in bounded time and memory, naming the field and the
limit; valid large ones still validate quickly.

Each case is measured: under 2 s of CPU time (so that other work on a busy machine does
not count) and under 200 MB of traced allocations. These are
guarantees about bounded inputs, not benchmarks: without the limits each case runs for
minutes or needs gigabytes.
"""

from __future__ import annotations

import gc
import json
import math
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agentical.db.limits import (
    INT_COLUMN_MAX,
    MAX_DOCUMENT_BYTES,
    MAX_NESTING_DEPTH,
    MAX_STEPS,
    MAX_TEMPLATE_NESTING,
    MAX_TEMPLATE_TOKENS,
)
from agentical.db.rendering import template_tokens
from agentical.db.schemas.definition import (
    PlaybookDefinition,
    StepDefinition,
    VariableDefinition,
)
from agentical.db.schemas.definition_errors import DefinitionError
from agentical.db.schemas.definition_io import load_definition, validate_definition

SECONDS = 2.0
MEGABYTES = 200


def _outcome(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except (DefinitionError, ValueError) as error:
        return error


def bounded(action: Callable[[], Any]) -> Any:
    """Run ``action`` twice: timed (under 2 s of this thread's CPU: threads other tests
    left running do not count, nor do collections of the objects earlier tests left
    behind, which are frozen first), then traced (under 200 MB at its peak:
    tracemalloc slows Python down several times, so it is not timed). Return its result
    or its error.

    Frozen as they are, garbage included: late in a full run the heap holds about a
    million objects, and collecting them first cost close to a second a call."""
    gc.freeze()
    try:
        started = time.thread_time()
        result = _outcome(action)
        elapsed = time.thread_time() - started
    finally:
        gc.unfreeze()
    assert elapsed < SECONDS, f"took {elapsed:.2f} s"
    tracemalloc.start()
    try:
        _outcome(action)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEGABYTES * 2**20, f"peak {peak / 2**20:.0f} MB"
    return result


def refused(action: Callable[[], Any]) -> list[str]:
    error = bounded(action)
    assert isinstance(error, DefinitionError), error
    return [str(problem) for problem in error.problems]


def playbook(**fields: Any) -> dict[str, Any]:
    return {"name": "Hostile", "category": "security", "steps": [{"name": "a"}], **fields}


def yaml_text(**fields: Any) -> str:
    return json.dumps(playbook(**fields))


def test_a_catastrophic_pattern_is_matched_in_linear_time() -> None:
    variable = {"name": "v", "pattern": "(a+)+$", "default": "a" * 40 + "!"}
    problems = refused(lambda: load_definition(yaml_text(variables=[variable])))
    assert problems == [
        "variables[0].default: invalid default 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!': "
        "must match the pattern '(a+)+$'"
    ]


def test_a_pattern_that_needs_backtracking_is_refused_with_the_reason() -> None:
    variable = {"name": "v", "pattern": r"(a)\1"}
    problems = refused(lambda: load_definition(yaml_text(variables=[variable])))
    assert problems == [
        "variables[0].pattern: pattern does not compile (RE2): invalid escape sequence: \\1"
    ]


def _laughs(levels: int, width: int, container: str) -> Iterator[str]:
    yield "  l0: &l0 lol"
    for level in range(1, levels):
        items = [f"*l{level - 1}"] * width
        body = (
            "[" + ", ".join(items) + "]"
            if container == "list"
            else "{" + ", ".join(f"k{i}: {item}" for i, item in enumerate(items)) + "}"
        )
        yield f"  l{level}: &l{level} {body}"


@pytest.mark.parametrize(
    ("section", "container"),
    [("parameters", "list"), ("configuration", "mapping")],
)
def test_a_yaml_alias_bomb_is_refused_before_it_expands(section: str, container: str) -> None:
    bomb = "\n".join(_laughs(10, 9, container))
    if section == "parameters":
        text = f"name: x\ncategory: testing\nsteps:\n- name: a\n  parameters:\n{bomb}\n"
        text = text.replace("\n  l", "\n    l")
    else:
        text = f"name: x\ncategory: testing\nconfiguration:\n{bomb}\n"
    problems = refused(lambda: load_definition(text))
    assert problems == [
        "the document expands to more than 250,000 values (YAML aliases count each time they "
        "are used)"
    ]


def test_a_recursive_alias_is_refused() -> None:
    assert refused(lambda: load_definition("configuration: &a {x: *a}\n")) == [
        "a YAML alias refers to a node that contains it"
    ]


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"x": value}
    return value


def test_deep_nesting_is_a_definition_error_not_a_recursion_error() -> None:
    deep = {"nested": _nested(300)}
    text = yaml_text(configuration=deep)
    assert refused(lambda: load_definition(text)) == [
        f"nested deeper than {MAX_NESTING_DEPTH} levels"
    ]
    [problem] = refused(lambda: validate_definition(playbook(configuration=deep)))
    assert problem.endswith(f": nested deeper than {MAX_NESTING_DEPTH} levels")
    assert problem.startswith("configuration.nested.x.x")


def test_a_huge_document_is_refused_from_its_size_before_parsing() -> None:
    text = yaml_text(description="d" * 100_000_000)
    assert refused(lambda: load_definition(text)) == [
        f"the document is larger than {MAX_DOCUMENT_BYTES:,} bytes"
    ]


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(yaml_text(description="d" * 20_000_000), encoding="utf-8")
    assert refused(lambda: load_definition(path)) == [
        f"the document is larger than {MAX_DOCUMENT_BYTES:,} bytes"
    ]


@pytest.mark.parametrize(
    "fields",
    [
        {"description": "d" * 100_000_000},
        {"steps": [{"name": "a", "parameters": {"blob": "p" * 100_000_000}}]},
        {"steps": [{"name": "a", "parameters": {f"k{i}": "v" * 1000 for i in range(2000)}}]},
    ],
    ids=["description", "one parameter", "many parameters"],
)
def test_huge_data_given_as_a_dict_is_refused_quickly(fields: dict[str, Any]) -> None:
    [problem] = refused(lambda: validate_definition(playbook(**fields)))
    assert "characters of text in all" in problem or "bytes" in problem


def test_a_parameter_over_its_size_limit_names_the_step_parameters() -> None:
    parameters = {f"k{i}": "v" * 1000 for i in range(300)}
    [problem] = refused(
        lambda: validate_definition(playbook(steps=[{"name": "a", "parameters": parameters}]))
    )
    assert problem == "steps[0].parameters: larger than 262,144 bytes as JSON"


@pytest.mark.parametrize("number", [2**31, 2**70, -(2**31) - 1])
@pytest.mark.parametrize(
    ("where", "fields"),
    [
        ("steps[0].order", lambda n: {"steps": [{"name": "a", "order": n}]}),
        ("steps[0].timeout_minutes", lambda n: {"steps": [{"name": "a", "timeout_minutes": n}]}),
        ("max_concurrent_executions", lambda n: {"max_concurrent_executions": n}),
        ("variables[0].max_length", lambda n: {"variables": [{"name": "v", "max_length": n}]}),
    ],
)
def test_integers_outside_the_databases_range_are_refused(
    number: int, where: str, fields: Callable[[int], dict[str, Any]]
) -> None:
    [problem] = refused(lambda: load_definition(yaml_text(**fields(number))))
    assert problem.startswith(f"{where}: ")
    if number > 0 and number < 2**63:
        assert f"{INT_COLUMN_MAX}" in problem


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
@pytest.mark.parametrize("field", ["min_value", "max_value"])
def test_nan_and_infinity_are_refused(text: str, field: str) -> None:
    source = f"name: x\ncategory: t\nvariables:\n- name: v\n  type: float\n  {field}: {text}\n"
    [problem] = refused(lambda: load_definition(source))
    assert problem.startswith(f"variables[0].{field}: ")
    assert "finite" in problem


def test_nan_anywhere_in_free_form_values_is_refused() -> None:
    problems = refused(lambda: load_definition("configuration: {ratio: .nan}\n"))
    assert problems == [
        "configuration.ratio: the number must be a finite number (not NaN or infinity)"
    ]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"steps": [{"name": "a", "parameters": {"freeze_from": date(2024, 12, 20)}}]},
            "steps[0].parameters: not JSON data: Object of type date is not JSON serializable",
        ),
        (
            {"configuration": {"by_day": {date(2024, 12, 20): "frozen"}}},
            "configuration: not JSON data: keys must be str, int, float, bool or None, "
            "not datetime.date",
        ),
        (
            {"configuration": {"ratios": {math.nan: 1}}},
            "configuration: not JSON data: NaN and infinity are not JSON numbers",
        ),
        (
            {"variables": [{"name": "v", "type": "select", "options": [b"a"]}]},
            "variables[0].options: not JSON data: Object of type bytes is not JSON serializable",
        ),
    ],
)
def test_a_value_json_cannot_hold_given_as_data_is_refused_naming_the_field(
    fields: dict[str, Any], problem: str
) -> None:
    assert refused(lambda: validate_definition(playbook(**fields))) == [problem]


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"description": "a\x00b"}, "description"),
        ({"steps": [{"name": "a", "parameters": {"k": "x\x00"}}]}, "steps[0].parameters.k"),
        ({"steps": [{"name": "a", "parameters": {"k\x00": "x"}}]}, "steps[0].parameters"),
        ({"variables": [{"name": "v", "default": "s\x00"}]}, "variables[0].default"),
        ({"tags": ["t\x00"]}, "tags[0]"),
    ],
)
def test_nul_characters_are_refused_everywhere(fields: dict[str, Any], where: str) -> None:
    [problem] = refused(lambda: validate_definition(playbook(**fields)))
    assert problem.startswith(f"{where}: ")
    assert "NUL" in problem
    [again] = refused(lambda: load_definition(yaml_text(**fields)))
    assert again == problem


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("evil\u202eexe.yaml", "U+202E"),
        ("zero\u200bwidth", "U+200B"),
        ("red\x1b[31m", "U+001B"),
        ("joined\u034f", "U+034F"),
        ("Failover\ufe0f", "U+FE0F"),
        ("\u3164", "U+3164"),
    ],
)
def test_names_with_invisible_or_escape_characters_are_refused(name: str, code: str) -> None:
    [problem] = refused(lambda: validate_definition(playbook(name=name)))
    assert problem.startswith("name: ")
    assert code in problem


def test_a_name_with_a_slash_is_refused_as_no_url_path_can_carry_it() -> None:
    [problem] = refused(lambda: validate_definition(playbook(name="backup/restore")))
    assert problem == "name: the name contains '/', which a URL path cannot carry"


def test_escape_characters_in_any_text_of_a_definition_are_refused() -> None:
    [problem] = refused(lambda: validate_definition(playbook(description="\x1b[2Jgone")))
    assert problem == "description: the text contains the control character U+001B"


@pytest.mark.parametrize(
    ("step", "where"),
    [
        ({"parameters": {"p": "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"}}, "parameters.p"),
        ({"parameters": {"p": "{% if 1 %}" * 3000 + "{% endif %}" * 3000}}, "parameters.p"),
        ({"parameters": {"p": "{{ " + "-" * 5000 + "1 }}"}}, "parameters.p"),
        ({"conditions": {"when": "(" * 5000 + "1" + ")" * 5000}}, "conditions.when"),
    ],
)
def test_a_template_nested_thousands_deep_is_refused_naming_the_field(
    step: dict[str, Any], where: str
) -> None:
    [problem] = refused(lambda: validate_definition(playbook(steps=[{"name": "s", **step}])))
    assert problem.startswith(f"steps[0].{where}: ")
    assert f"nested deeper than {MAX_TEMPLATE_NESTING} levels" in problem


def _templates_of_a_megabyte(last: dict[str, Any]) -> str:
    """A document just under MAX_DOCUMENT_BYTES: 16 steps whose parameters are distinct
    65,000-character templates, then ``last``."""
    template = "{{a|e}}" * (65_000 // len("{{a|e}}"))
    steps = [{"name": f"s{i}", "parameters": {"p": f"{i}{template}"}} for i in range(16)]
    text = json.dumps(playbook(variables=[{"name": "a"}], steps=[*steps, last]))
    assert len(text) <= MAX_DOCUMENT_BYTES
    return text


def test_a_megabyte_of_templates_is_refused_from_its_tokens_before_parsing() -> None:
    """16 steps of distinct 65,000-character templates, then an unknown placeholder, within
    the document limit: parsing them all took 7 s before the unknown name was found."""
    template = "{{a|e}}" * (65_000 // len("{{a|e}}"))
    steps = [{"name": f"s{i}", "parameters": {"p": f"{i}{template}"}} for i in range(16)]
    steps.append({"name": "last", "parameters": {"p": "{{ nope }}"}})
    text = json.dumps(playbook(variables=[{"name": "a"}], steps=steps))
    assert len(text) <= MAX_DOCUMENT_BYTES
    [problem] = refused(lambda: load_definition(text))
    assert problem == (
        f"steps[1].parameters.p: the templates hold more than {MAX_TEMPLATE_TOKENS:,} tokens "
        "in all (each distinct template counted once)"
    )


def test_templates_and_conditions_up_to_the_token_limit_are_parsed_and_checked() -> None:
    # "{{a}}" is 3 tokens, each letter of text 1, the condition "{{ (nope) }}" 5.
    texts = ["{{a}}" * 5000, "{{a}}" * 4999, "{{a}}" * 4998]
    texts.append("x" + "{{a}}" * 833 + "y" + "{{a}}" * 834 + "z")
    steps = [{"name": f"s{i}", "parameters": {"p": text}} for i, text in enumerate(texts)]
    steps += [{"name": f"r{i}", "parameters": {"p": texts[0]}} for i in range(100)]  # once
    steps.append({"name": "last", "conditions": {"when": "nope"}})
    tokens = sum(template_tokens(text, MAX_TEMPLATE_TOKENS) for text in texts) + 5
    assert tokens == MAX_TEMPLATE_TOKENS
    data = playbook(variables=[{"name": "a"}], steps=steps)
    with pytest.raises(DefinitionError) as at_the_limit:
        validate_definition(data)
    assert [str(problem) for problem in at_the_limit.value.problems] == [
        f"steps[{len(steps) - 1}].conditions.when: conditions.when reads 'nope', which is not "
        "a variable"
    ]

    steps[0]["conditions"] = {"when": "a"}  # the budget runs out at the last template
    with pytest.raises(DefinitionError) as over:
        validate_definition(data)
    [problem] = over.value.problems
    assert str(problem) == (
        f"steps[{len(steps) - 1}].conditions.when: the templates hold more than "
        f"{MAX_TEMPLATE_TOKENS:,} tokens in all (each distinct template counted once)"
    )


def _chain(count: int, reads: str | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"name": "s0"}]
    for index in range(1, count):
        step: dict[str, Any] = {"name": f"s{index}", "depends_on": [f"s{index - 1}"]}
        if reads is not None:
            step["parameters"] = {"x": reads}
        steps.append(step)
    return playbook(steps=steps)


def test_too_many_steps_are_refused_from_the_count() -> None:
    problems = refused(lambda: validate_definition(_chain(20_000, "{{ steps.s0.output.x }}")))
    assert problems == [f"steps: more than {MAX_STEPS:,} steps (20,000)"]


def test_a_long_chain_reading_its_first_step_validates_in_linear_time() -> None:
    definition = bounded(lambda: validate_definition(_chain(MAX_STEPS, "{{ steps.s0.output.x }}")))
    assert isinstance(definition, PlaybookDefinition)
    assert len(definition.steps) == MAX_STEPS


def _two_step_cycles(count: int) -> dict[str, Any]:
    steps = []
    for pair in range(count):
        steps += [
            {"name": f"a{pair}", "depends_on": [f"b{pair}"]},
            {"name": f"b{pair}", "depends_on": [f"a{pair}"]},
        ]
    return playbook(steps=steps)


def test_25_000_cycles_are_refused_from_the_step_count() -> None:
    problems = refused(lambda: validate_definition(_two_step_cycles(25_000)))
    assert problems == [f"steps: more than {MAX_STEPS:,} steps (50,000)"]


def test_many_two_step_cycles_are_all_reported_in_linear_time() -> None:
    problems = refused(lambda: validate_definition(_two_step_cycles(MAX_STEPS // 2)))
    assert len(problems) == MAX_STEPS // 2
    assert problems[-1] == "steps[9998].depends_on[0]: dependency cycle: a4999 -> b4999 -> a4999"


def test_one_long_cycle_is_reported_in_linear_time() -> None:
    data = _chain(MAX_STEPS)
    data["steps"][0]["depends_on"] = [f"s{MAX_STEPS - 1}"]
    [problem] = refused(lambda: validate_definition(data))
    assert problem.startswith("steps[0].depends_on[0]: dependency cycle: s0 -> s9999 -> s9998")


def test_a_valid_five_thousand_step_definition_validates_quickly() -> None:
    data = _chain(5_000, "{{ steps.s0.output.x }} and {{ region }}")
    data["variables"] = [{"name": "region", "default": "eu", "pattern": "[a-z]+"}]
    text = json.dumps(data)
    definition = bounded(lambda: load_definition(text))
    assert isinstance(definition, PlaybookDefinition)
    assert len(definition.steps) == 5_000


def test_a_playbook_of_the_largest_size_still_reads_back_as_a_definition() -> None:
    """Stored rows spell every field out (``Playbook.to_definition`` validates them, with
    long names and every default): the data limits leave room for MAX_STEPS such steps."""
    step = StepDefinition(
        step_name="s",
        description="Check the replica lag and the error rate of the service " * 2,
        parameters={"target": "{{ region }}"},
    ).model_dump()
    rows = {
        **playbook(),
        "steps": [{**step, "step_name": f"s{i}", "step_order": i + 1} for i in range(MAX_STEPS)],
        "variables": [VariableDefinition(variable_name="region").model_dump()],
    }
    assert len(validate_definition(rows).steps) == MAX_STEPS  # capacity, not a timing
