"""Runs end exactly once and starts hold the limit, with real commits racing."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from agentical.db import runs
from agentical.db.models.playbook import (
    ConcurrencyLimitError,
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    claim_ready_steps,
    create_execution,
)
from agentical.db.types import utc_now
from tests.concurrency.conftest import (
    THREAD_TIMEOUT_SECONDS,
    run_in_threads,
    while_a_worker_holds,
)
from tests.db.runs.builders import started_run, step


def test_two_workers_finishing_the_last_two_steps_at_once_end_the_run_once(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")])
        claimed = claim_ready_steps(session, worker_id="w", limit=2)
        session.commit()
        leases = [runs.lease_of(run) for run in claimed]
        execution_id, playbook_id = execution.id, execution.playbook_id

    def finish(index: int) -> None:
        with sessions() as session:
            runs.complete_step(session, leases[index], {"by": index})
            session.commit()

    assert run_in_threads(2, finish) == [None, None]
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert (stored.status, stored.completed_steps, stored.progress_percentage) == (
            ExecutionStatus.COMPLETED,
            2,
            100.0,
        )
        assert [change["to"] for change in stored.status_history].count("completed") == 1
        playbook = session.get_one(Playbook, playbook_id)
        assert (playbook.total_executions, playbook.successful_executions) == (1, 1)


def test_racing_starts_by_the_model_method_never_exceed_the_limit_nor_deadlock(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        first = started_run(session, [step("a")], max_concurrent_executions=3)
        playbook = first.playbook
        pending = [create_execution(session, playbook).id for _ in range(7)]
        session.commit()

    def start(index: int) -> str:
        with sessions() as session:
            execution = session.get_one(PlaybookExecution, pending[index])
            execution.start_execution()
            try:
                session.commit()
            except ConcurrencyLimitError:
                session.rollback()
                return "limit"
            return "started"

    outcomes = run_in_threads(7, start)
    assert not [outcome for outcome in outcomes if isinstance(outcome, DBAPIError)], outcomes
    assert sorted(str(outcome) for outcome in outcomes) == ["limit"] * 5 + ["started"] * 2
    with sessions() as session:
        running = session.scalars(
            select(PlaybookExecution.id).where(
                PlaybookExecution.playbook_id == playbook.id,
                PlaybookExecution.status == ExecutionStatus.RUNNING,
            )
        ).all()
        assert len(running) == 3


def test_transactions_finishing_steps_of_two_runs_in_opposite_orders_do_not_deadlock(
    sessions: sessionmaker[Session],
) -> None:
    rounds = 10
    with sessions() as session:
        first, second = (
            started_run(session, [step(f"s{i}") for i in range(2 * rounds)]) for _ in range(2)
        )
        claimed = claim_ready_steps(session, worker_id="w", limit=8 * rounds)
        session.commit()
        leases = {
            execution.id: [
                runs.lease_of(run) for run in claimed if run.playbook_execution_id == execution.id
            ]
            for execution in (first, second)
        }
        ids = [first.id, second.id]
    barrier = threading.Barrier(2, timeout=THREAD_TIMEOUT_SECONDS)

    def work(index: int) -> int:
        order = ids if index == 0 else ids[::-1]  # opposite orders, the same rounds
        with sessions() as session:
            for number in range(rounds):
                barrier.wait()
                for execution_id in order:
                    runs.complete_step(session, leases[execution_id][2 * number + index])
                session.commit()  # both runs' counts: locked in execution id order
        return rounds

    assert run_in_threads(2, work) == [rounds, rounds]
    with sessions() as session:
        for execution_id in ids:
            stored = session.get_one(PlaybookExecution, execution_id)
            assert (stored.status, stored.completed_steps) == (
                ExecutionStatus.COMPLETED,
                2 * rounds,
            )


def test_enforcing_a_run_timeout_waits_for_a_worker_finishing_a_step_of_it(
    sessions: sessionmaker[Session],
) -> None:
    """A worker has completed a step of a run past its deadline, not yet committed: the
    step row is its, and its settlement will take the run's row. Enforcing the timeout took
    the run's row first, then waited for the step row: a deadlock."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")], timeout_minutes=1)
        claimed = {run.step_name: run for run in claim_ready_steps(session, worker_id="w", limit=2)}
        session.commit()
        lease, execution_id = runs.lease_of(claimed["a"]), execution.id
    late = utc_now() + timedelta(minutes=5)
    outcome = while_a_worker_holds(
        sessions,
        lambda worker: runs.complete_step(worker, lease, {}),
        lambda session: runs.enforce_timeouts(session, now=late),
    )

    assert isinstance(outcome, runs.TimeoutReport), outcome
    assert outcome.executions == [execution_id]
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert (stored.status, stored.completed_steps, stored.skipped_steps) == (
            ExecutionStatus.FAILED,
            1,
            1,
        )
