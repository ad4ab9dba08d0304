"""Every error the library raises on purpose maps to one HTTP status in one ``except``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from agentical.db.lookups import find_playbook
from agentical.db.models.playbook import (
    AgenticalError,
    ConcurrencyLimitError,
    ConflictError,
    DefinitionError,
    DocumentSyntaxError,
    IdempotencyConflictError,
    InvalidInputError,
    InvalidTransitionError,
    LimitReachedError,
    NotFoundError,
    PlaceholderSyntaxError,
    Playbook,
    PlaybookNotExecutableError,
    PlaybookStep,
    RenderError,
    VariableValidationError,
    start_execution,
)
from agentical.db.rendering import template_references
from agentical.db.schemas.yaml_format import parse_document
from agentical.db.testing.factories import make_execution, make_playbook, make_variable

Action = Callable[[Session], object]


def http_status(session: Session, action: Action) -> int:
    """What a service's exception handler does: one ``except`` per family."""
    try:
        action(session)
    except InvalidInputError:
        return 422
    except ConflictError:
        return 409
    except LimitReachedError:
        return 429
    except NotFoundError:
        return 404
    return 200


def too_long_column(_session: Session) -> object:
    return PlaybookStep(step_name="a", step_order=1, agent_type="x" * 101)


def bad_definition(_session: Session) -> object:
    return Playbook.from_definition({"steps": []})


def not_a_document(_session: Session) -> object:
    return parse_document("name: [unclosed")


def bad_placeholder(_session: Session) -> object:
    return template_references("{{ unclosed")


def unrenderable(session: Session) -> object:
    playbook = make_playbook(session, steps=1)
    playbook.steps[0].parameters = {"target": "{{ steps.nowhere.output.x }}"}
    execution = playbook.new_execution()
    execution.start_execution()
    return execution.render_parameters(execution.step_executions[0])


def invalid_inputs(session: Session) -> object:
    return make_playbook(session, variables=[make_variable()]).new_execution({"severity": "?"})


def invalid_transition(session: Session) -> object:
    make_execution(session, make_playbook(session)).pause_execution()
    return None


def not_executable(session: Session) -> object:
    return make_playbook(session, steps=0).new_execution()


def reused_key(session: Session) -> object:
    playbook = make_playbook(session, variables=[make_variable()])
    playbook.new_execution({"severity": "low"}, idempotency_key="request-1")
    session.flush()
    return playbook.new_execution({"severity": "high"}, idempotency_key="request-1")


def over_the_limit(session: Session) -> object:
    playbook = make_playbook(session)
    for _ in range(2):
        execution = playbook.new_execution()
        session.flush()
        start_execution(session, execution)
    return None


def unknown_playbook(session: Session) -> object:
    return find_playbook(session, "No such playbook")


CASES: list[tuple[Action, type[AgenticalError], int]] = [
    (too_long_column, InvalidInputError, 422),
    (bad_definition, DefinitionError, 422),
    (not_a_document, DocumentSyntaxError, 422),
    (bad_placeholder, PlaceholderSyntaxError, 422),
    (unrenderable, RenderError, 422),
    (invalid_inputs, VariableValidationError, 422),
    (invalid_transition, InvalidTransitionError, 409),
    (not_executable, PlaybookNotExecutableError, 409),
    (reused_key, IdempotencyConflictError, 409),
    (over_the_limit, ConcurrencyLimitError, 429),
    (unknown_playbook, NotFoundError, 404),
]


@pytest.mark.parametrize(
    ("action", "error", "status"), CASES, ids=[action.__name__ for action, _, _ in CASES]
)
def test_each_error_maps_to_its_http_status_in_one_except(
    session: Session, action: Action, error: type[AgenticalError], status: int
) -> None:
    with pytest.raises(error):
        action(session)
    assert http_status(session, action) == status


@pytest.mark.parametrize(
    "error",
    [
        DefinitionError,
        DocumentSyntaxError,
        PlaceholderSyntaxError,
        RenderError,
        VariableValidationError,
        InvalidTransitionError,
        PlaybookNotExecutableError,
        ConcurrencyLimitError,
    ],
)
def test_the_contracts_errors_stay_value_errors(error: type[AgenticalError]) -> None:
    assert issubclass(error, ValueError)
    assert issubclass(error, AgenticalError)


def test_a_replay_with_the_same_inputs_returns_the_first_execution(session: Session) -> None:
    playbook = make_playbook(session, variables=[make_variable()])
    first = playbook.new_execution({"severity": "low"}, idempotency_key="request-1")
    session.flush()
    assert playbook.new_execution({"severity": "low"}, idempotency_key="request-1") is first


def test_a_reused_key_names_the_differing_variables_not_their_values(session: Session) -> None:
    with pytest.raises(IdempotencyConflictError) as raised:
        reused_key(session)
    assert raised.value.differing == ["severity"]
    assert "'severity'" not in str(raised.value)
    assert "high" not in str(raised.value)
    assert "low" not in str(raised.value)
