"""Workers finishing steps of one execution at once: every step is counted, no commit
fails on the execution's row version, and a lifecycle change made meanwhile still lands.
The counts are written as increments (``step_counts``), deferred to the session."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import (
    ExecutionStatus,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
)
from agentical.db.models.playbook.progress import refresh_progress
from agentical.db.models.playbook.step_counts import progress
from tests.concurrency.builders import running_execution
from tests.concurrency.conftest import run_in_threads

THREADS = 8
STEPS_PER_THREAD = 3
OUTCOMES = (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED)


def _step_run_ids(session: Session, execution_id: int) -> list[int]:
    return list(
        session.scalars(
            select(PlaybookStepExecution.id)
            .where(PlaybookStepExecution.playbook_execution_id == execution_id)
            .order_by(PlaybookStepExecution.step_order)
        )
    )


def _finish(step_run: PlaybookStepExecution, outcome: StepStatus) -> None:
    if outcome is StepStatus.SKIPPED:
        step_run.skip_step("not needed")
        return
    step_run.start_step()
    if outcome is StepStatus.COMPLETED:
        step_run.complete_step({"ok": True})
    else:
        step_run.fail_step("boom")


def _stored(sessions: sessionmaker[Session], execution_id: int) -> PlaybookExecution:
    with sessions() as session:
        execution = session.get(PlaybookExecution, execution_id)
        assert execution is not None
        return execution


def test_eight_workers_finishing_steps_of_one_execution_are_all_counted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=THREADS * STEPS_PER_THREAD)
        session.commit()
        execution_id, version = execution.id, execution.row_version
        step_run_ids = _step_run_ids(session, execution_id)

    def work(thread: int) -> int:
        mine = step_run_ids[thread * STEPS_PER_THREAD : (thread + 1) * STEPS_PER_THREAD]
        for step_run_id, outcome in zip(mine, OUTCOMES, strict=True):
            with sessions() as session:
                step_run = session.get_one(PlaybookStepExecution, step_run_id)
                _finish(step_run, outcome)
                session.commit()
        return len(mine)

    assert run_in_threads(THREADS, work) == [STEPS_PER_THREAD] * THREADS
    stored = _stored(sessions, execution_id)
    assert (stored.completed_steps, stored.failed_steps, stored.skipped_steps) == (8, 8, 8)
    assert stored.progress_percentage == 100.0
    assert stored.current_step is not None
    assert stored.status is ExecutionStatus.FAILED  # 8 required steps failed: it ended itself
    # Counting steps is not an edit of the execution; ending it is, once.
    assert stored.row_version == version + 1


def test_a_pause_made_while_a_step_finishes_keeps_both(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        execution_id = running_execution(session, steps=3).id
        session.commit()
        first_run_id = _step_run_ids(session, execution_id)[0]
    with sessions() as operator, sessions() as worker:
        execution = operator.get_one(PlaybookExecution, execution_id)
        _finish(worker.get_one(PlaybookStepExecution, first_run_id), StepStatus.COMPLETED)
        worker.commit()
        execution.pause_execution()
        operator.commit()
    stored = _stored(sessions, execution_id)
    assert (stored.status, stored.completed_steps) == (ExecutionStatus.PAUSED, 1)
    assert stored.progress_percentage == 33.33


def test_a_recount_and_a_step_finished_in_the_same_flush_are_both_kept(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=4)
        session.commit()
        first, second, third, _ = execution.step_executions
        session.execute(
            update(PlaybookStepExecution)
            .where(PlaybookStepExecution.id.in_([first.id, second.id]))
            .values(status=StepStatus.COMPLETED)
        )
        refresh_progress(execution)
        _finish(third, StepStatus.FAILED)
        assert (execution.completed_steps, execution.failed_steps) == (2, 1)
        session.commit()
    stored = _stored(sessions, execution.id)
    assert (stored.completed_steps, stored.failed_steps, stored.skipped_steps) == (2, 1, 0)
    assert stored.progress_percentage == 75.0


def test_a_rolled_back_step_leaves_the_counts_as_they_were(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2)
        session.commit()
        _finish(execution.step_executions[0], StepStatus.COMPLETED)
        session.flush()
        session.rollback()
        _finish(execution.step_executions[1], StepStatus.SKIPPED)
        session.commit()
    stored = _stored(sessions, execution.id)
    assert (stored.completed_steps, stored.skipped_steps) == (0, 1)
    assert stored.progress_percentage == 50.0


@pytest.mark.parametrize(
    ("finished", "total", "expected"),
    [(0, 7, 0.0), (1, 3, 33.33), (2, 3, 66.67), (1, 32, 3.13), (5, 5, 100.0), (6, 5, 100.0)],
)
def test_progress_is_rounded_half_up_to_a_hundredth(
    finished: int, total: int, expected: float
) -> None:
    assert progress(finished, total) == expected


def test_the_database_computes_the_same_progress_as_the_copy_in_memory(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=32)
        session.commit()
        _finish(execution.step_executions[0], StepStatus.COMPLETED)
        in_memory = execution.progress_percentage
        session.commit()
    assert in_memory == _stored(sessions, execution.id).progress_percentage == 3.13


def test_the_session_that_finished_a_step_reads_the_new_counts_before_it_commits(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2)
        session.commit()
        execution_id, step_run = execution.id, execution.step_executions[0]
        _finish(step_run, StepStatus.COMPLETED)
        counts = select(PlaybookExecution.completed_steps, PlaybookExecution.current_step)
        row = session.execute(counts.where(PlaybookExecution.id == execution_id)).one()
        assert tuple(row) == (1, step_run.step_name)
        session.rollback()
    assert _stored(sessions, execution_id).completed_steps == 0


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("finish"), st.integers(0, 5), st.sampled_from(OUTCOMES)),
        st.tuples(st.sampled_from(["flush", "commit", "rollback", "query"])),
    ),
    max_size=12,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS)
def test_the_stored_counts_always_match_the_stored_step_states(
    sessions: sessionmaker[Session], operations: list[tuple[Any, ...]]
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=6)
        session.commit()
        for operation in operations:
            if operation[0] == "finish":
                step_run = execution.step_executions[operation[1]]
                if step_run.status is StepStatus.PENDING:
                    _finish(step_run, operation[2])
            elif operation[0] == "query":
                session.scalar(select(PlaybookExecution.completed_steps))
            else:
                getattr(session, operation[0])()
        session.commit()
        execution_id = execution.id
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        states = [run.status for run in stored.step_executions]
        expected = [states.count(status) for status in OUTCOMES]
        assert [stored.completed_steps, stored.failed_steps, stored.skipped_steps] == expected
        assert stored.progress_percentage == progress(sum(expected), len(states))
