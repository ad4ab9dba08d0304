"""Hostile input values are refused before the database sees them, in bounded time,
naming the field and never the value; nothing is stored. On every database."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agentical.db.enums import VariableType
from agentical.db.errors import VariableValidationError
from agentical.db.models.playbook import (
    DefinitionError,
    Playbook,
    PlaybookExecution,
    PlaybookVariable,
    load_definition,
)
from agentical.db.testing.factories import make_execution, make_playbook

SECRET = "hunter2-hostile"


def _playbook(session: Session, **variable: Any) -> Playbook:
    fields = {"variable_name": "v", "variable_type": VariableType.STRING, **variable}
    playbook = make_playbook(session, steps=1, variables=[PlaybookVariable(**fields)])
    session.flush()
    return playbook


def _executions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(PlaybookExecution)) or 0


def test_a_catastrophic_pattern_input_is_refused_in_linear_time(session: Session) -> None:
    playbook = _playbook(session, pattern="(a+)+$")
    before = _executions(session)
    started = time.thread_time()
    with pytest.raises(VariableValidationError, match="must match the pattern"):
        playbook.new_execution({"v": "a" * 40 + "!"})
    assert time.thread_time() - started < 2.0
    assert _executions(session) == before


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (VariableType.STRING, f"{SECRET}\x00"),
        (VariableType.JSON, {"key": [f"{SECRET}\x00"]}),
        (VariableType.JSON, {f"{SECRET}\x00": 1}),
        (VariableType.JSON, {"n": 2**70}),
        (VariableType.INTEGER, 2**70),
    ],
)
def test_a_value_the_databases_refuse_is_refused_before_them(
    session: Session, kind: VariableType, value: Any
) -> None:
    playbook = _playbook(session, variable_type=kind, is_sensitive=True)
    before = _executions(session)
    with pytest.raises(VariableValidationError) as caught:
        playbook.new_execution({"v": value})
    assert SECRET not in str(caught.value)
    assert "variable 'v'" in str(caught.value)
    session.flush()
    assert _executions(session) == before


def test_a_nul_in_an_input_set_on_a_running_execution_is_refused(session: Session) -> None:
    execution = make_execution(session, make_playbook(session, steps=1))
    session.flush()
    with pytest.raises(ValueError, match=r"input_variables\['k'\]: the text contains a NUL"):
        execution.set_variable("k", f"{SECRET}\x00")
    with pytest.raises(ValueError, match="NUL") as caught:
        execution.start_execution({"k": f"{SECRET}\x00"})
    assert SECRET not in str(caught.value)
    session.flush()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("error_message", f"{SECRET}\x00", "NUL"),
        ("completed_steps", 2**31, "integer range"),
        ("progress_percentage", float("nan"), "finite"),
        ("input_variables", {"api_key": [f"{SECRET}\x00"]}, "NUL"),
        ("trigger_context", {f"{SECRET}\x00": 1}, "NUL"),
        ("output_variables", {"ratio": float("nan")}, "NaN"),
        ("trigger_context", {"when": date(2024, 12, 20)}, "type date is not JSON serializable"),
        ("output_variables", {"ids": {1, 2}}, "type set is not JSON serializable"),
        ("input_variables", {"by_day": {date(2024, 12, 20): 1}}, "keys must be str"),
    ],
)
def test_model_columns_refuse_what_the_databases_refuse_at_assignment(
    session: Session, field: str, value: Any, reason: str
) -> None:
    execution = make_execution(session, make_playbook(session, steps=1))
    session.flush()
    with pytest.raises(ValueError, match=reason) as caught:
        setattr(execution, field, value)
    assert f"PlaybookExecution.{field}" in str(caught.value)
    assert SECRET not in str(caught.value)
    session.flush()


@pytest.mark.parametrize(
    "text",
    [
        "name: x\ncategory: testing\nsteps: [{name: a, order: 2147483648}]\n",
        "name: x\ncategory: testing\nsteps: [{name: a, timeout_minutes: 1180591620717411303424}]\n",
        "name: x\ncategory: testing\nsteps: [{name: a}]\nvariables: [{name: v, min_value: .nan}]\n",
        'name: x\ncategory: testing\nsteps: [{name: a, description: "a\\0b"}]\n',
    ],
)
def test_a_definition_the_databases_would_refuse_is_refused_and_nothing_stored(
    session: Session, text: str
) -> None:
    before = session.scalar(select(func.count()).select_from(Playbook))
    with pytest.raises(DefinitionError):
        Playbook.import_definition(session, load_definition(text))
    assert session.scalar(select(func.count()).select_from(Playbook)) == before
