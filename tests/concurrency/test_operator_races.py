"""A person's cancel, resume, retry or run timeout against workers, at the worst moment.

Each test holds one transaction at a chosen statement (a cursor hook) so that the others
act in between: the interleavings the races of ``test_run_end.py`` hit only now and then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from agentical.db import runs
from agentical.db.errors import ConflictError
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    claim_ready_steps,
)
from agentical.db.types import utc_now
from tests.concurrency.conftest import THREAD_TIMEOUT_SECONDS, library_engine, while_a_worker_holds
from tests.db.runs.builders import by_name, claim_leases, started_run, step


def _hold_at(session: Session, matches: Callable[[str], bool], then: Callable[[], None]) -> None:
    """Before the first statement of ``session`` that ``matches``, call ``then`` (which
    waits for the other transactions)."""
    done = threading.Event()

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not done.is_set() and matches(statement):
            done.set()
            then()

    event.listen(session.connection(), "before_cursor_execute", hold)


def _side_by_side(
    sessions: sessionmaker[Session], **transactions: Callable[[Session], object]
) -> dict[str, BaseException | None]:
    """Each of ``transactions`` in a session and a thread of its own, then committed: by
    name, what it raised (``None``: nothing)."""
    outcomes: dict[str, BaseException | None] = {}

    def run(name: str, transaction: Callable[[Session], object]) -> None:
        with sessions() as session:
            try:
                transaction(session)
                session.commit()
                outcomes[name] = None
            except Exception as error:
                outcomes[name] = error

    threads = [threading.Thread(target=run, args=item) for item in transactions.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_TIMEOUT_SECONDS)
    return outcomes


def _locks_step_rows_by_id(statement: str) -> bool:
    """The lock that follows the read of a run's unfinished step ids."""
    return "FOR UPDATE" in statement and "playbook_step_executions.id IN" in statement


def _adds_step_metrics(statement: str) -> bool:
    return statement.lstrip().startswith("UPDATE playbook_steps")


def _cancel(session: Session, execution_id: int) -> object:
    runs.cancel_execution(session, session.get_one(PlaybookExecution, execution_id), "stop")
    return None


def _enforce(session: Session, _execution_id: int) -> object:
    return runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=5))


def _retry(session: Session, execution_id: int) -> object:
    return runs.retry_step(session, session.get_one(PlaybookExecution, execution_id), "x")


@pytest.mark.parametrize("a_finishes", ["after_the_read", "while_the_lock_waits"])
@pytest.mark.parametrize("act", [_cancel, _enforce, _retry], ids=["cancel", "timeout", "retry"])
def test_an_operator_racing_two_workers_ending_the_run_waits_instead_of_deadlocking(
    engine: Engine,
    sessions: sessionmaker[Session],
    database: str,
    act: Callable[[Session, int], object],
    a_finishes: str,
) -> None:
    """Workers hold ``a`` and ``b``, the last steps; ``b``'s worker has completed it, not
    committed. The operator reads the unfinished ids (``a``, ``b``) and locks them; ``a``
    completes and commits after that read, or while the lock waits for it. The operator
    holds ``a``, finished, and waits for ``b``, whose commit ends the run. On MariaDB the
    run's metrics share-locked every finished step row, ``a`` too: a deadlock, every time.
    Now they read without a lock: the operator waits for the run's end and is refused, or
    finds nothing to do."""
    if database == "sqlite":
        pytest.skip("SQLite's write lock: one writer at a time")
    failed_x = act is _retry
    fields: dict[str, Any] = {"timeout_minutes": 1} if act is _enforce else {}
    with sessions() as session:
        steps = [step("a"), step("b"), *([step("x")] if failed_x else [])]
        execution = started_run(session, steps, **fields)
        leases = claim_leases(session, limit=3)
        if failed_x:
            runs.fail_step(session, leases["x"], "broken")
            session.commit()
        execution_id = execution.id
    unfinished_read, a_committed = threading.Event(), threading.Event()
    outcome: list[object] = []

    def wait_for_a() -> None:
        unfinished_read.set()
        a_committed.wait(THREAD_TIMEOUT_SECONDS)

    def operator() -> None:
        with Session(operators, expire_on_commit=False) as session:
            if a_finishes == "after_the_read":
                _hold_at(session, _locks_step_rows_by_id, wait_for_a)
            try:
                outcome.append(act(session, execution_id))
                session.commit()
            except Exception as error:
                outcome.append(error)

    operators = library_engine(engine)
    thread = threading.Thread(target=operator)
    try:
        with sessions() as last, sessions() as first:
            runs.complete_step(last, leases["b"], {})
            if a_finishes == "while_the_lock_waits":
                runs.complete_step(first, leases["a"], {})
                thread.start()
                time.sleep(0.5)  # the operator's lock waits for a
            else:
                thread.start()
                assert unfinished_read.wait(THREAD_TIMEOUT_SECONDS)
                runs.complete_step(first, leases["a"], {})
            first.commit()
            a_committed.set()
            time.sleep(0.5)  # the operator holds a and waits for b
            last.commit()
        thread.join(THREAD_TIMEOUT_SECONDS)
    finally:
        operators.dispose()

    assert len(outcome) == 1
    assert isinstance(outcome[0], ConflictError | StaleDataError | runs.TimeoutReport), outcome
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        ended = ExecutionStatus.FAILED if failed_x else ExecutionStatus.COMPLETED
        assert (stored.status, stored.completed_steps) == (ended, 2)
        playbook = session.get_one(Playbook, stored.playbook_id)
        counted = {each.step_name: each.total_executions for each in playbook.steps}
        assert counted == {"a": 1, "b": 1, **({"x": 1} if failed_x else {})}


def test_a_cancel_racing_the_resume_that_ends_a_paused_run_waits_instead_of_deadlocking(
    sessions: sessionmaker[Session], database: str
) -> None:
    """Every step finished while the run was paused: resuming ends it, and so does a
    cancel. The cancel added its steps' metrics before the ORM wrote the run's row; the
    resume wrote the run's row, then the same metrics: a deadlock, every time, on
    PostgreSQL and MariaDB. Now the cancel locks the run's row first: the resume waits."""
    if database == "sqlite":
        pytest.skip("SQLite's write lock: one writer at a time")
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")])
        claimed = claim_ready_steps(session, worker_id="w", limit=2)
        session.commit()
        runs.pause_execution(session, execution)
        session.commit()
        for run in claimed:
            runs.complete_step(session, run, {})
        session.commit()
        execution_id, playbook_id = execution.id, execution.playbook_id
    metrics_reached = threading.Event()

    def let_the_resume_in() -> None:
        metrics_reached.set()
        time.sleep(1.0)

    def cancel(session: Session) -> None:
        _hold_at(session, _adds_step_metrics, let_the_resume_in)
        _cancel(session, execution_id)

    def resume(session: Session) -> None:
        paused = session.get_one(PlaybookExecution, execution_id)
        metrics_reached.wait(THREAD_TIMEOUT_SECONDS)
        runs.resume_execution(session, paused)

    outcomes = _side_by_side(sessions, cancel=cancel, resume=resume)

    assert outcomes["cancel"] is None, outcomes
    assert isinstance(outcomes["resume"], ConflictError | StaleDataError), outcomes
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert stored.status is ExecutionStatus.CANCELLED
        playbook = session.get_one(Playbook, playbook_id)
        assert {each.step_name: each.total_executions for each in playbook.steps} == {
            "a": 1,
            "b": 1,
        }
        assert set(by_name(stored)) == {"a", "b"}


def _end_by_hand(session: Session, execution_id: int) -> object:
    session.get_one(PlaybookExecution, execution_id).complete_execution(overall_success=False)
    session.flush()
    return None


def test_ending_a_run_by_hand_while_a_worker_finishes_a_step_of_it_waits_for_the_worker(
    sessions: sessionmaker[Session],
) -> None:
    """The worker holds ``a``'s row and will take the run's row when it commits. A run
    ended by hand takes the run's row before its steps' metrics, and those read ``a``: it
    must lock the unfinished step rows first, as a cancel does, or the two deadlock."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")])
        lease, execution_id = claim_leases(session, limit=2)["a"], execution.id

    outcome = while_a_worker_holds(
        sessions,
        lambda worker: runs.complete_step(worker, lease, {}),
        lambda session: _end_by_hand(session, execution_id),
    )

    assert outcome is None, outcome
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert (stored.status, stored.completed_steps) == (ExecutionStatus.FAILED, 1)
        playbook = session.get_one(Playbook, stored.playbook_id)
        assert {each.step_name: each.total_executions for each in playbook.steps} == {
            "a": 1,
            "b": 0,
        }


def _lowers_unmet_dependencies(statement: str) -> bool:
    """The settlement's release of a finished step's dependants."""
    return statement.lstrip().startswith("UPDATE playbook_step_executions SET claim_due_at")


def test_a_cancel_racing_a_worker_releasing_a_step_ordered_before_it_waits(
    sessions: sessionmaker[Session], database: str
) -> None:
    """Step ``a`` (order 1) depends on ``b`` (order 2): the order does not follow the
    dependencies. ``b``'s worker has completed it and is about to release ``a``; the cancel
    reads both unfinished and locks them. In step order it would hold ``a`` and wait for
    ``b`` while the worker waits for ``a``: a deadlock, every time. In the plan's order
    (``b`` first) the cancel waits for the worker, then skips ``a``."""
    if database == "sqlite":
        pytest.skip("SQLite's write lock: one writer at a time")
    with sessions() as session:
        execution = started_run(session, [step("a", "b", order=1), step("b", order=2)])
        lease = claim_leases(session, 1)["b"]
        execution_id = execution.id
    release_reached = threading.Event()

    def let_the_cancel_in() -> None:
        release_reached.set()
        time.sleep(1.0)

    def worker(session: Session) -> None:
        _hold_at(session, _lowers_unmet_dependencies, let_the_cancel_in)
        runs.complete_step(session, lease)

    def cancel(session: Session) -> None:
        release_reached.wait(THREAD_TIMEOUT_SECONDS)
        _cancel(session, execution_id)

    outcomes = _side_by_side(sessions, worker=worker, cancel=cancel)
    assert outcomes == {"worker": None, "cancel": None}
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert stored.status is ExecutionStatus.CANCELLED
        assert {name: run.status.value for name, run in by_name(stored).items()} == {
            "a": "skipped",
            "b": "completed",
        }
