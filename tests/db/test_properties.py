"""Properties over generated input (hypothesis): validation never raises, text coercion of
a valid value gives it back, a definition validates or names the wrong field, and every
(state, action) pair follows the transition tables or changes nothing."""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from agentical.db.enums import ExecutionStatus, PlaybookStatus, StepStatus, VariableType
from agentical.db.lifecycle import (
    EXECUTION_RESUME_FROM,
    EXECUTION_START_FROM,
    EXECUTION_TRANSITIONS,
    PLAYBOOK_TRANSITIONS,
    STEP_EXECUTION_TRANSITIONS,
)
from agentical.db.models.playbook import (
    InvalidTransitionError,
    Playbook,
    PlaybookCategory,
    PlaybookExecution,
    PlaybookStepExecution,
    PlaybookVariable,
    VariableValidationError,
)
from agentical.db.schemas.definition_errors import DefinitionError
from agentical.db.schemas.definition_io import validate_definition
from agentical.db.variables import normalise

E = TypeVar("E", bound=Exception)


def _raised(kind: type[E], action: Callable[[], object]) -> E | None:
    """The ``kind`` exception ``action`` raised, or ``None``; any other exception escapes."""
    try:
        action()
    except kind as error:
        return error
    return None


# Hypothesis keeps caches in ./.hypothesis by default; a folder there makes every later
# pytest run at the root fail (the plugin warns about norecursedirs, warnings are errors).
set_hypothesis_home_dir(str(Path(tempfile.gettempdir()) / "agentical-hypothesis"))

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# What every database stores: no NUL character, integers within 64 bits (agentical.db.limits).
storable_integers = st.integers(min_value=-(2**63), max_value=2**63 - 1)
# No NUL, no lone surrogate (UTF-8 has none): the databases refuse both, and so do we.
storable_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | storable_integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | storable_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(storable_text.filter(lambda key: len(key) <= 8), children, max_size=4)
    ),
    max_leaves=12,
)


class Hostile:
    """An input whose every dunder raises: validation must still give a verdict."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")

    def __hash__(self) -> int:
        raise RuntimeError("no hashing")

    def __len__(self) -> int:
        raise RuntimeError("no length")

    def __str__(self) -> str:
        raise RuntimeError("no text")

    def __iter__(self) -> Any:
        raise RuntimeError("no iterating")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("no ordering")


any_values = st.recursive(
    json_values
    | st.floats()
    | st.binary(max_size=8)
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(UTC))
    | st.decimals()
    | st.complex_numbers()
    | st.builds(Hostile)
    | st.builds(object),
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.sets(st.integers(), max_size=3)
        | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)

optional_numbers = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32)


@st.composite
def variables(draw: st.DrawFn) -> PlaybookVariable:
    low, high = draw(optional_numbers), draw(optional_numbers)
    if low is not None and high is not None and low > high:
        low, high = high, low
    shortest = draw(st.none() | st.integers(0, 10))
    longest = draw(st.none() | st.integers(0, 30))
    if shortest is not None and longest is not None and shortest > longest:
        shortest, longest = longest, shortest
    return PlaybookVariable(
        variable_name="v",
        variable_type=draw(st.sampled_from(VariableType)),
        is_required=draw(st.booleans()),
        min_value=low,
        max_value=high,
        min_length=shortest,
        max_length=longest,
        pattern=draw(st.sampled_from([None, r"[a-z]+", r"\d{1,3}", r".*", r"(a|b)*c?"])),
        enum_values=draw(st.lists(json_values, max_size=4)),
    )


@PROPERTY_SETTINGS
@given(variable=variables(), value=any_values)
def test_validate_value_gives_a_verdict_for_any_input(
    variable: PlaybookVariable, value: Any
) -> None:
    verdict = variable.validate_value(value)
    assert verdict is True or verdict is False


@PROPERTY_SETTINGS
@given(variable=variables(), value=any_values)
def test_set_value_stores_json_or_refuses_and_keeps_the_old_value(
    variable: PlaybookVariable, value: Any
) -> None:
    before = variable.current_value
    error = _raised(VariableValidationError, lambda: variable.set_value(value))
    if error is None:
        json.dumps(variable.current_value, allow_nan=False)  # stored form is JSON-ready
    else:
        assert variable.current_value == before
        assert "'v'" in str(error)


def _variable(variable_type: VariableType, options: list[Any] | None = None) -> PlaybookVariable:
    return PlaybookVariable(
        variable_name="v", variable_type=variable_type, enum_values=options or []
    )


offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
option_text = st.text(
    alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=6
)  # no commas or spaces: the comma-separated form must be unambiguous


@st.composite
def valid_values_with_text(draw: st.DrawFn) -> tuple[PlaybookVariable, Any, str]:
    kind = draw(st.sampled_from(VariableType))
    if kind is VariableType.INTEGER:
        value: Any = draw(storable_integers)
        return _variable(kind), value, str(value)
    if kind is VariableType.FLOAT:
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        return _variable(kind), value, repr(value)
    if kind is VariableType.BOOLEAN:
        value = draw(st.booleans())
        return _variable(kind), value, draw(st.sampled_from([str(value), str(value).lower()]))
    if kind is VariableType.JSON:
        value = draw(json_values)
        return _variable(kind), value, json.dumps(value)
    if kind in (VariableType.SELECT, VariableType.MULTI_SELECT):
        options = draw(st.lists(option_text, min_size=1, max_size=5, unique=True))
        if kind is VariableType.SELECT:
            value = draw(st.sampled_from(options))
            return _variable(kind, options), value, value
        value = draw(st.lists(st.sampled_from(options), min_size=1, max_size=4))
        text = draw(st.sampled_from([json.dumps(value), ",".join(value), ", ".join(value)]))
        return _variable(kind, options), value, text
    if kind is VariableType.DATE:
        value = draw(st.dates())
        return _variable(kind), value, value.isoformat()
    if kind is VariableType.DATETIME:
        value = draw(st.datetimes(timezones=offsets))
        return _variable(kind), value, value.isoformat()
    value = draw(storable_text.filter(str.strip))
    return _variable(kind), value, value


@PROPERTY_SETTINGS
@given(case=valid_values_with_text())
def test_coercing_the_text_of_a_valid_value_gives_the_value_back(
    case: tuple[PlaybookVariable, Any, str],
) -> None:
    variable, value, text = case
    assert variable.validate_value(value)
    coerced = variable.coerce(text)
    assert variable.validate_value(coerced)
    spec = variable.spec()
    expected = normalise(spec, value)
    if isinstance(expected, float):
        assert math.isclose(normalise(spec, coerced), expected, rel_tol=0, abs_tol=0)
    else:
        assert normalise(spec, coerced) == expected


step_names = st.text(alphabet="abcxyz_-.0", min_size=0, max_size=6)
step_documents = st.fixed_dictionaries(
    {},
    optional={
        "name": step_names | json_values,
        "order": st.integers(-2, 5) | json_values,
        "type": st.sampled_from(["manual", "automated", "webhook", "nope"]) | json_values,
        "depends_on": st.lists(step_names, max_size=3) | json_values,
        "retry_attempts": st.integers(-1, 12),
        "parameters": json_values,
        "surprise": json_values,
    },
)
variable_documents = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["severity", "1bad", "ok_name", ""]) | json_values,
        "type": st.sampled_from([t.value for t in VariableType]) | json_values,
        "options": st.lists(json_values, max_size=3) | json_values,
        "default": json_values,
        "min_value": optional_numbers | json_values,
        "max_value": optional_numbers,
        "pattern": st.sampled_from(["[a-z]+", "(", "x*"]) | json_values,
        "sensitive": st.booleans() | json_values,
    },
)
definition_documents = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=300) | json_values,
        "category": st.sampled_from([c.value for c in PlaybookCategory] + ["nope"]),
        "tags": st.lists(st.text(max_size=5), max_size=3) | json_values,
        "steps": st.lists(step_documents, max_size=4) | json_values,
        "variables": st.lists(variable_documents, max_size=3) | json_values,
        "max_concurrent_executions": st.integers(-1, 3) | json_values,
        "unknown_field": json_values,
    },
)


@PROPERTY_SETTINGS
@given(document=definition_documents)
def test_a_definition_validates_or_every_problem_names_a_field(document: dict[str, Any]) -> None:
    error = _raised(DefinitionError, lambda: validate_definition(document))
    if error is not None:
        assert error.problems
        for problem in error.problems:
            assert problem.location, f"problem without a field: {problem.message}"


def _snapshot(subject: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(subject, name) for name in fields}


EXECUTION_ACTIONS: dict[str, tuple[ExecutionStatus, Callable[[PlaybookExecution], None]]] = {
    "start": (ExecutionStatus.RUNNING, lambda e: e.start_execution({"x": 1})),
    "resume": (ExecutionStatus.RUNNING, lambda e: e.resume_execution()),
    "pause": (ExecutionStatus.PAUSED, lambda e: e.pause_execution()),
    "complete": (ExecutionStatus.COMPLETED, lambda e: e.complete_execution(True, {"o": 1})),
    "fail": (ExecutionStatus.FAILED, lambda e: e.complete_execution(False, None, "boom")),
    "cancel": (ExecutionStatus.CANCELLED, lambda e: e.cancel_execution("stop")),
}
EXECUTION_SOURCES = {"start": EXECUTION_START_FROM, "resume": EXECUTION_RESUME_FROM}
EXECUTION_FIELDS = (
    "status",
    "started_at",
    "completed_at",
    "execution_time_seconds",
    "input_variables",
    "output_variables",
    "error_message",
    "cancellation_reason",
    "overall_success",
    "progress_percentage",
    "status_history",
)


@pytest.mark.parametrize(
    ("current", "action"), list(itertools.product(ExecutionStatus, EXECUTION_ACTIONS))
)
def test_every_execution_state_and_action_follows_the_table_or_changes_nothing(
    current: ExecutionStatus, action: str
) -> None:
    target, act = EXECUTION_ACTIONS[action]
    execution = PlaybookExecution(playbook_id=1, status=current)
    allowed = target in EXECUTION_TRANSITIONS[current] and current in EXECUTION_SOURCES.get(
        action, frozenset(ExecutionStatus)
    )
    before = _snapshot(execution, EXECUTION_FIELDS)
    if allowed:
        act(execution)
        assert execution.status is target
        assert execution.status_history[-1]["from"] == current.value
    else:
        with pytest.raises(InvalidTransitionError, match=current.value):
            act(execution)
        assert _snapshot(execution, EXECUTION_FIELDS) == before


STEP_ACTIONS: dict[str, tuple[StepStatus, Callable[[PlaybookStepExecution], None]]] = {
    "start": (StepStatus.RUNNING, lambda s: s.start_step()),
    "complete": (StepStatus.COMPLETED, lambda s: s.complete_step({"o": 1})),
    "fail": (StepStatus.FAILED, lambda s: s.fail_step("boom")),
    "skip": (StepStatus.SKIPPED, lambda s: s.skip_step("why")),
}
STEP_FIELDS = ("status", "started_at", "completed_at", "output_data", "error_message")


@pytest.mark.parametrize(("current", "action"), list(itertools.product(StepStatus, STEP_ACTIONS)))
def test_every_step_execution_state_and_action_follows_the_table_or_changes_nothing(
    current: StepStatus, action: str
) -> None:
    target, act = STEP_ACTIONS[action]
    step_run = PlaybookStepExecution(step_name="s", step_order=1, status=current)
    before = _snapshot(step_run, STEP_FIELDS)
    if target in STEP_EXECUTION_TRANSITIONS[current]:
        act(step_run)
        assert step_run.status is target
    else:
        with pytest.raises(InvalidTransitionError, match=current.value):
            act(step_run)
        assert _snapshot(step_run, STEP_FIELDS) == before


PLAYBOOK_ACTIONS: dict[str, tuple[PlaybookStatus, Callable[[Playbook], None]]] = {
    "publish": (PlaybookStatus.PUBLISHED, lambda p: p.publish()),
    "archive": (PlaybookStatus.ARCHIVED, lambda p: p.archive()),
    "deprecate": (PlaybookStatus.DEPRECATED, lambda p: p.deprecate()),
}


@pytest.mark.parametrize(
    ("current", "action"), list(itertools.product(PlaybookStatus, PLAYBOOK_ACTIONS))
)
def test_every_playbook_state_and_action_follows_the_table_or_changes_nothing(
    current: PlaybookStatus, action: str
) -> None:
    target, act = PLAYBOOK_ACTIONS[action]
    playbook = Playbook(name="p", category=PlaybookCategory.TESTING, status=current)
    before = _snapshot(playbook, ("status", "published_at"))
    if target in PLAYBOOK_TRANSITIONS[current]:
        act(playbook)
        assert playbook.status is target
    else:
        with pytest.raises(InvalidTransitionError, match=current.value):
            act(playbook)
        assert _snapshot(playbook, ("status", "published_at")) == before
