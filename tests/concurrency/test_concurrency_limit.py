"""``start_execution(session, execution)``: at most ``max_concurrent_executions`` executions
of a playbook run (or are paused) at once, decided under a lock on the playbook row."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agentical.db.models.playbook import (
    ConcurrencyLimitError,
    ExecutionStatus,
    InvalidTransitionError,
    PlaybookExecution,
    start_execution,
)
from agentical.db.testing.factories import make_playbook
from tests.concurrency.conftest import run_in_threads


def _pending_executions(
    sessions: sessionmaker[Session], count: int, limit: int
) -> tuple[int, list[int]]:
    with sessions() as session:
        playbook = make_playbook(session, steps=1, max_concurrent_executions=limit)
        executions = [PlaybookExecution(playbook=playbook) for _ in range(count)]
        session.add_all(executions)
        session.commit()
        return playbook.id, [execution.id for execution in executions]


def _statuses(sessions: sessionmaker[Session], playbook_id: int) -> dict[ExecutionStatus, int]:
    with sessions() as session:
        rows = session.execute(
            select(PlaybookExecution.status, func.count())
            .where(PlaybookExecution.playbook_id == playbook_id)
            .group_by(PlaybookExecution.status)
        )
        return {status: int(count) for status, count in rows}


def test_eight_racing_starters_and_three_slots_start_exactly_three(
    sessions: sessionmaker[Session],
) -> None:
    playbook_id, ids = _pending_executions(sessions, 8, limit=3)

    def work(index: int) -> str:
        with sessions() as session:
            execution = session.get(PlaybookExecution, ids[index])
            assert execution is not None
            try:
                start_execution(session, execution)
            except ConcurrencyLimitError:
                session.rollback()
                return "refused"
            session.commit()
            return "started"

    outcomes = run_in_threads(8, work)
    assert sorted(map(str, outcomes)) == ["refused"] * 5 + ["started"] * 3
    assert _statuses(sessions, playbook_id) == {
        ExecutionStatus.RUNNING: 3,
        ExecutionStatus.PENDING: 5,
    }


def test_a_refused_start_changes_nothing(sessions: sessionmaker[Session]) -> None:
    playbook_id, (first, second) = _pending_executions(sessions, 2, limit=1)
    with sessions() as session:
        execution = session.get(PlaybookExecution, first)
        assert execution is not None
        start_execution(session, execution, {"severity": "high"})
        session.commit()
        other = session.get(PlaybookExecution, second)
        assert other is not None
        with pytest.raises(ConcurrencyLimitError, match="max_concurrent_executions is 1") as info:
            start_execution(session, other, {"severity": "low"})
        assert isinstance(info.value, ValueError)
        assert (info.value.limit, info.value.active) == (1, 1)
        assert other.status is ExecutionStatus.PENDING
        assert other.started_at is None
        session.rollback()
    with sessions() as session:
        stored = session.get(PlaybookExecution, second)
        assert stored is not None
        assert (stored.status, stored.input_variables) == (ExecutionStatus.PENDING, {})
        assert _statuses(sessions, playbook_id)[ExecutionStatus.RUNNING] == 1


def test_a_paused_execution_holds_its_slot_and_a_finished_one_frees_it(
    sessions: sessionmaker[Session],
) -> None:
    _, (first, second) = _pending_executions(sessions, 2, limit=1)
    with sessions() as session:
        execution = session.get(PlaybookExecution, first)
        other = session.get(PlaybookExecution, second)
        assert execution is not None
        assert other is not None
        start_execution(session, execution)
        execution.pause_execution()
        session.commit()
        with pytest.raises(ConcurrencyLimitError):
            start_execution(session, other)
        session.rollback()
        execution.resume_execution()
        execution.complete_execution(overall_success=True)
        session.commit()
        start_execution(session, other)
        session.commit()
        assert other.status is ExecutionStatus.RUNNING


def test_starting_a_non_pending_execution_is_an_invalid_transition(
    sessions: sessionmaker[Session],
) -> None:
    _, (first,) = _pending_executions(sessions, 1, limit=5)
    with sessions() as session:
        execution = session.get(PlaybookExecution, first)
        assert execution is not None
        execution.cancel_execution("not needed")
        session.commit()
        with pytest.raises(InvalidTransitionError):
            start_execution(session, execution)


def test_a_new_execution_not_yet_flushed_can_be_started(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=1, max_concurrent_executions=2)
        session.commit()
        execution = PlaybookExecution(playbook=playbook)
        start_execution(session, execution)
        session.commit()
        assert execution.id is not None
        assert execution.status is ExecutionStatus.RUNNING
