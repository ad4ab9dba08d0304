"""A service may bind its sessions per model (``sessionmaker(binds={Base: engine})``),
with no default bind. The statements the library runs itself (row locks, atomic counters,
claims, the bulk INSERT of ``create_execution``) must find their connection there too."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import UnboundExecutionError
from sqlalchemy.orm import Session, sessionmaker

from agentical.db import history
from agentical.db.models.base import Base
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookTemplate,
    StepStatus,
    claim_ready_steps,
    create_execution,
    start_execution,
)
from agentical.db.testing.factories import make_playbook


@pytest.fixture
def bound_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(binds={Base: engine}, expire_on_commit=False)


def test_a_session_bound_per_model_has_no_default_connection(
    bound_sessions: sessionmaker[Session],
) -> None:
    """The premise: ``session.connection()`` alone cannot pick an engine here."""
    with bound_sessions() as session, pytest.raises(UnboundExecutionError):
        session.connection()


def test_an_execution_runs_to_the_end_on_a_session_bound_per_model(
    bound_sessions: sessionmaker[Session],
) -> None:
    with bound_sessions() as session:
        playbook = make_playbook(session, steps=3, chain=True)
        for step in playbook.steps:
            step.retry_attempts, step.retry_delay_seconds = 1, 0
        template = PlaybookTemplate.from_playbook(playbook, "Bound template", "1.0.0")
        session.add(template)
        session.flush()
        copy = template.create_playbook("From the bound template")
        session.add(copy)
        execution = create_execution(session, playbook, idempotency_key="bound-1")
        assert create_execution(session, playbook, idempotency_key="bound-1") is execution
        start_execution(session, execution)
        session.commit()

        (first,) = claim_ready_steps(session, worker_id="w")
        first.fail_step("first attempt")
        session.commit()
        (retry,) = claim_ready_steps(session, worker_id="w")
        assert retry.id == first.id
        retry.complete_step({})
        session.commit()
        while claimed := claim_ready_steps(session, worker_id="w"):
            for run in claimed:
                run.complete_step({})
            session.commit()
        ids = execution.id, playbook.id, template.id  # the last step finished the run

    with bound_sessions() as session:
        stored = session.get_one(PlaybookExecution, ids[0])
        assert stored.status is ExecutionStatus.COMPLETED
        assert (stored.completed_steps, stored.failed_steps, stored.progress_percentage) == (
            3,
            0,
            100.0,
        )
        assert {run.status for run in stored.step_executions} == {StepStatus.COMPLETED}
        assert session.get_one(Playbook, ids[1]).total_executions == 1
        assert session.get_one(PlaybookTemplate, ids[2]).usage_count == 1
        completed = history.executions_by_status(ids[1], ExecutionStatus.COMPLETED)
        assert [execution.id for execution in session.scalars(completed)] == [ids[0]]
        assert session.execute(history.most_failing_steps(ids[1])).all() == []
        (line,) = history.iter_executions_jsonl(session)
        assert json.loads(line)["status"] == "completed"
