"""``create_execution``: the bulk write path gives the rows ``new_execution`` gives."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from logfire.testing import CaptureLogfire
from sqlalchemy import Table, func, inspect, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookNotExecutableError,
    PlaybookStepExecution,
    VariableValidationError,
    claim_ready_steps,
    create_execution,
)
from agentical.db.testing.factories import make_playbook

SECRET = "s3cret-token-value"
EXECUTIONS: Table = PlaybookExecution.__table__  # type: ignore[assignment]
STEP_EXECUTIONS: Table = PlaybookStepExecution.__table__  # type: ignore[assignment]
# Columns that differ between any two executions (or runs) by design.
OWN_EXECUTION_COLUMNS = {"id", "uuid", "execution_id", "created_at", "updated_at"}
# Times of their own, like created_at: when a ready run became due.
OWN_STEP_COLUMNS = {
    "id",
    "uuid",
    "playbook_execution_id",
    "created_at",
    "updated_at",
    "claim_due_at",
}


def fan_out(session: Session) -> Playbook:
    """a -> (b, c optional), with a defaulted and a required sensitive input."""
    return Playbook.import_definition(
        session,
        {
            "name": "Fan out",
            "category": "maintenance",
            "steps": [
                {"name": "a", "type": "script", "parameters": {"region": "{{ region }}"}},
                {"name": "b", "type": "script", "depends_on": ["a"]},
                {"name": "c", "type": "script", "depends_on": ["a"], "optional": True},
            ],
            "variables": [
                {"name": "region", "type": "select", "options": ["eu", "us"], "default": "eu"},
                {"name": "token", "sensitive": True, "required": True},
            ],
        },
    )


def rows(
    session: Session, table: Table, key: str, value: Any, skip: set[str]
) -> list[dict[str, Any]]:
    """The stored rows of ``table`` where ``key == value``, read back without the ORM."""
    statement = select(table).where(table.c[key] == value).order_by(table.c.id)
    return [
        {name: value for name, value in row.items() if name not in skip}
        for row in session.execute(statement).mappings()
    ]


def count(session: Session, model: type[Any]) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_the_rows_are_those_new_execution_writes(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = fan_out(session)
    arguments: dict[str, Any] = {"triggered_by": "scheduler", "executed_by_user_id": None}
    created = create_execution(session, playbook, {"token": SECRET}, **arguments)
    planned = playbook.new_execution({"token": SECRET}, **arguments)
    session.flush()
    with fresh_session() as other:
        by_orm, by_bulk = (
            rows(other, EXECUTIONS, "id", execution.id, OWN_EXECUTION_COLUMNS)
            for execution in (planned, created)
        )
        assert by_bulk == by_orm
        assert by_bulk[0]["status"] == ExecutionStatus.PENDING
        orm_runs, bulk_runs = (
            rows(other, STEP_EXECUTIONS, "playbook_execution_id", execution.id, OWN_STEP_COLUMNS)
            for execution in (planned, created)
        )
        assert bulk_runs == orm_runs
        assert [(run["step_name"], run["status"]) for run in bulk_runs] == [
            ("a", StepStatus.PENDING),
            ("b", StepStatus.PENDING),
            ("c", StepStatus.PENDING),
        ]
        assert [run["playbook_step_id"] for run in bulk_runs] == [s.id for s in playbook.steps]
        stored = other.scalars(
            select(PlaybookStepExecution).where(
                PlaybookStepExecution.playbook_execution_id == created.id
            )
        ).all()
        assert len({run.uuid for run in stored}) == 3
        assert all(isinstance(run.created_at, datetime) for run in stored)
        assert all(run.created_at.utcoffset() is not None for run in stored)


def test_step_executions_load_on_first_access_in_step_order(session: Session) -> None:
    playbook = fan_out(session)
    execution = create_execution(session, playbook, {"token": SECRET})
    state = inspect(execution)
    assert state.persistent
    assert "step_executions" in state.unloaded
    assert execution in playbook.executions
    runs = execution.step_executions
    assert [run.step_name for run in runs] == ["a", "b", "c"]
    assert [run.step for run in runs] == list(playbook.steps)
    assert all(run.execution is execution for run in runs)


def test_a_loaded_step_executions_collection_of_a_step_is_refreshed(session: Session) -> None:
    playbook = fan_out(session)
    first_step = playbook.steps[0]
    assert first_step.step_executions == []
    execution = create_execution(session, playbook, {"token": SECRET})
    assert [run.execution for run in first_step.step_executions] == [execution]


def test_ready_steps_progress_and_claiming_work_on_the_result(session: Session) -> None:
    playbook = fan_out(session)
    execution = create_execution(session, playbook, {"token": SECRET})
    execution.start_execution()
    assert [run.step_name for run in execution.ready_steps()] == ["a"]
    session.flush()
    (claimed,) = claim_ready_steps(session, worker_id="worker-1", limit=5)
    assert claimed is execution.step_executions[0]
    assert claimed.claimed_by == "worker-1"
    claimed.complete_step({"ok": True})
    assert execution.completed_steps == 1
    assert execution.progress_percentage == pytest.approx(33.33)
    assert [run.step_name for run in execution.ready_steps()] == ["b", "c"]
    session.flush()
    assert len(claim_ready_steps(session, worker_id="worker-2", limit=5)) == 2


def test_a_repeated_idempotency_key_returns_the_first_execution(session: Session) -> None:
    playbook = fan_out(session)
    first = create_execution(session, playbook, {"token": SECRET}, idempotency_key="deploy-42")
    again = create_execution(session, playbook, {"token": SECRET}, idempotency_key="deploy-42")
    assert again is first
    assert playbook.new_execution({"token": SECRET}, idempotency_key="deploy-42") is first
    other = create_execution(session, playbook, {"token": SECRET}, idempotency_key="deploy-43")
    assert other is not first
    assert count(session, PlaybookExecution) == 2
    assert count(session, PlaybookStepExecution) == 6


@pytest.mark.parametrize(
    ("inputs", "key", "error"),
    [
        ({"region": "mars"}, None, VariableValidationError),
        ({"token": SECRET, "colour": "blue"}, "k", VariableValidationError),
        ({"token": SECRET}, "", ValueError),
        ("token=x", None, TypeError),
    ],
)
def test_refused_inputs_write_nothing_and_the_session_stays_usable(
    session: Session, inputs: Any, key: str | None, error: type[Exception]
) -> None:
    playbook = fan_out(session)
    with pytest.raises(error):
        create_execution(session, playbook, inputs, idempotency_key=key)
    assert not session.new
    assert count(session, PlaybookExecution) == 0
    assert count(session, PlaybookStepExecution) == 0
    assert playbook.executions == []
    execution = create_execution(session, playbook, {"token": SECRET})
    assert len(execution.step_executions) == 3


def test_a_playbook_that_cannot_run_is_refused_before_anything_is_written(
    session: Session,
) -> None:
    playbook = make_playbook(session, name="Retired", steps=2)
    playbook.archive()
    with pytest.raises(PlaybookNotExecutableError, match="it is archived"):
        create_execution(session, playbook)
    assert count(session, PlaybookExecution) == 0


def test_a_playbook_of_another_session_is_refused(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    playbook = make_playbook(session, steps=1)
    with fresh_session() as other, pytest.raises(ValueError, match="not in this session"):
        create_execution(other, playbook)
    assert count(session, PlaybookExecution) == 0


def test_more_runs_than_one_insert_batch_are_all_written(session: Session) -> None:
    playbook = make_playbook(session, steps=1_001, chain=False)
    execution = create_execution(session, playbook)
    assert count(session, PlaybookStepExecution) == 1_001
    assert [run.step_order for run in execution.step_executions] == list(range(1, 1_002))


def test_the_plan_is_logged_once_without_input_values(
    session: Session, capfire: CaptureLogfire
) -> None:
    playbook = fan_out(session)
    capfire.exporter.clear()
    execution = create_execution(session, playbook, {"token": SECRET})
    spans = capfire.exporter.exported_spans_as_dict()
    planned = [span for span in spans if span["name"] == "execution.planned"]
    assert len(planned) == 1
    assert planned[0]["attributes"]["steps"] == 3
    assert planned[0]["attributes"]["execution_id"] == execution.execution_id
    assert SECRET not in repr(spans)
