"""The documented history queries and the JSON-lines export, on every database."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from agentical.db import history
from agentical.db.enums import ExecutionStatus, StepStatus, VariableType
from agentical.db.history import (
    executions_by_status,
    export_executions_jsonl,
    failed_executions,
    iter_executions_jsonl,
    most_failing_steps,
    running_executions,
    step_executions_in_order,
)
from agentical.db.models.base import Base
from agentical.db.models.playbook import (
    SECRET_MASK,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
)
from agentical.db.testing.factories import make_playbook, make_variable

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(
    session: Session,
    playbook: Playbook,
    status: ExecutionStatus,
    minutes: int,
    **fields: object,
) -> PlaybookExecution:
    """An execution created ``minutes`` after T0, already in ``status``."""
    created = T0 + timedelta(minutes=minutes)
    execution = PlaybookExecution(
        playbook=playbook, status=status, created_at=created, updated_at=created, **fields
    )
    session.add(execution)
    session.flush()
    return execution


def test_executions_by_status_lists_one_playbooks_runs_newest_first(session: Session) -> None:
    playbook, other = make_playbook(session), make_playbook(session)
    old = run(session, playbook, ExecutionStatus.COMPLETED, 1)
    new = run(session, playbook, ExecutionStatus.COMPLETED, 5)
    failed = run(session, playbook, ExecutionStatus.FAILED, 3)
    run(session, other, ExecutionStatus.COMPLETED, 4)

    completed = session.scalars(executions_by_status(playbook.id, ExecutionStatus.COMPLETED))
    every = session.scalars(executions_by_status(playbook.id))

    assert list(completed) == [new, old]
    assert list(every) == [new, failed, old]


def test_failed_executions_takes_a_half_open_window_across_playbooks(session: Session) -> None:
    playbook, other = make_playbook(session), make_playbook(session)
    run(session, playbook, ExecutionStatus.FAILED, 0)
    inside = run(session, playbook, ExecutionStatus.FAILED, 10)
    inside_other = run(session, other, ExecutionStatus.FAILED, 20)
    run(session, playbook, ExecutionStatus.COMPLETED, 15)
    run(session, playbook, ExecutionStatus.FAILED, 30)

    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    found = session.scalars(failed_executions(since, until))
    mine = session.scalars(failed_executions(since, until, playbook_id=playbook.id))

    assert list(found) == [inside_other, inside]
    assert list(mine) == [inside]


def test_running_executions_lists_every_playbooks_running_runs_oldest_first(
    session: Session,
) -> None:
    playbook, other = make_playbook(session), make_playbook(session)
    later = run(session, playbook, ExecutionStatus.RUNNING, 9)
    earlier = run(session, other, ExecutionStatus.RUNNING, 2)
    run(session, playbook, ExecutionStatus.PAUSED, 1)

    assert list(session.scalars(running_executions())) == [earlier, later]


def test_step_executions_in_order_follows_step_order(session: Session) -> None:
    playbook = make_playbook(session, steps=3)
    execution = run(session, playbook, ExecutionStatus.RUNNING, 0)
    runs = [
        PlaybookStepExecution(execution=execution, step=step) for step in reversed(playbook.steps)
    ]
    session.add_all(runs)
    session.flush()

    ordered = session.scalars(step_executions_in_order(execution.id))

    assert [step_run.step_name for step_run in ordered] == ["step_1", "step_2", "step_3"]


def test_most_failing_steps_counts_failures_per_step_of_one_playbook(session: Session) -> None:
    playbook, other = make_playbook(session, steps=3), make_playbook(session, steps=3)
    failing = ["step_2", "step_3", "step_2", "step_2"]
    for minute, name in enumerate(failing):
        execution = run(session, playbook, ExecutionStatus.FAILED, minute)
        step = next(step for step in playbook.steps if step.step_name == name)
        session.add(PlaybookStepExecution(execution=execution, step=step, status=StepStatus.FAILED))
    ok = run(session, playbook, ExecutionStatus.COMPLETED, 50)
    session.add(
        PlaybookStepExecution(execution=ok, step=playbook.steps[0], status=StepStatus.COMPLETED)
    )
    elsewhere = run(session, other, ExecutionStatus.FAILED, 60)
    session.add(
        PlaybookStepExecution(execution=elsewhere, step=other.steps[0], status=StepStatus.FAILED)
    )
    session.flush()

    rows = session.execute(most_failing_steps(playbook.id)).all()
    top = session.execute(most_failing_steps(playbook.id, limit=1)).all()
    recent = session.execute(most_failing_steps(playbook.id, since=T0 + timedelta(minutes=1)))

    assert [tuple(row) for row in rows] == [("step_2", 3), ("step_3", 1)]
    assert [tuple(row) for row in top] == [("step_2", 3)]
    assert [tuple(row) for row in recent] == [("step_2", 2), ("step_3", 1)]


def test_export_writes_to_dict_of_each_execution_with_secrets_masked(
    session: Session, fresh_session: Callable[[], Session]
) -> None:
    token = make_variable("token", variable_type=VariableType.STRING, is_sensitive=True)
    token.enum_values = []
    token.default_value = None
    playbook = make_playbook(session, variables=[token])
    first = run(session, playbook, ExecutionStatus.PENDING, 1, input_variables={"token": "s3"})
    second = run(session, playbook, ExecutionStatus.FAILED, 2, error_message="boom")
    session.commit()

    reader = fresh_session()
    lines = list(iter_executions_jsonl(reader, batch_size=1))
    expected = [
        execution.to_dict()
        for execution in (reader.get_one(PlaybookExecution, e.id) for e in (first, second))
    ]

    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    assert [json.loads(line) for line in lines] == expected
    assert json.loads(lines[0])["input_variables"] == {"token": SECRET_MASK}


def test_export_keeps_the_statements_filter_and_counts_what_it_wrote(session: Session) -> None:
    playbook = make_playbook(session)
    for minute in range(5):
        run(session, playbook, ExecutionStatus.FAILED, minute)
    run(session, playbook, ExecutionStatus.COMPLETED, 10)
    out = io.StringIO()

    written = export_executions_jsonl(
        session, out, failed_executions(T0, T0 + timedelta(hours=1)).limit(3)
    )

    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert written == 3
    assert [row["status"] for row in exported] == ["failed"] * 3
    assert [row["created_at"] for row in exported] == sorted(
        (row["created_at"] for row in exported), reverse=True
    )


def test_the_module_docstring_names_only_indexes_that_exist() -> None:
    named = set(re.findall(r"``(ix_\w+)``", history.__doc__ or ""))
    existing = {index.name for table in Base.metadata.tables.values() for index in table.indexes}
    assert named
    assert named <= existing, named - existing
