"""An operator's retry racing a worker that finishes the run's last step."""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from agentical.db import runs
from agentical.db.models.playbook import (
    ExecutionStatus,
    PlaybookExecution,
    StepStatus,
)
from tests.concurrency.conftest import run_in_threads, while_a_worker_holds
from tests.db.runs.builders import by_name, claim_leases, drain, started_run, step

ROUNDS = 4


def _race(sessions: sessionmaker[Session]) -> tuple[int, object]:
    """A run whose required step ``a`` failed for good while ``side`` is claimed; then
    a worker finishes ``side`` (the last step: the run would fail) as ``a`` is retried."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b", "a"), step("side")])
        leases = claim_leases(session, limit=2)
        runs.fail_step(session, leases["a"], "boom")
        session.commit()
        lease, execution_id = leases["side"], execution.id

    def act(index: int) -> object:
        with sessions() as session:
            if index == 0:
                runs.complete_step(session, lease, {})
                session.commit()
                return None
            reopened = runs.retry_step(
                session, session.get_one(PlaybookExecution, execution_id), "a"
            )
            session.commit()
            return reopened

    finished, retried = run_in_threads(2, act)
    assert finished is None  # the worker's finish never fails, whoever goes first
    return execution_id, retried


def test_a_retry_racing_the_last_step_either_goes_first_or_finds_the_run_ended(
    sessions: sessionmaker[Session],
) -> None:
    for _ in range(ROUNDS):
        execution_id, retried = _race(sessions)
        with sessions() as session:
            stored = session.get_one(PlaybookExecution, execution_id)
            states = {name: run.status for name, run in by_name(stored).items()}
            figures = (stored.completed_steps, stored.failed_steps, stored.skipped_steps)
            if isinstance(retried, runs.RetryError):  # the worker ended the run first
                assert "is failed" in str(retried)
                assert stored.status is ExecutionStatus.FAILED
                assert states == {
                    "a": StepStatus.FAILED,
                    "b": StepStatus.SKIPPED,
                    "side": StepStatus.COMPLETED,
                }
                assert figures == (1, 1, 1)
                continue
            assert retried == ["a", "b"]
            assert stored.status is ExecutionStatus.RUNNING
            assert figures == (1, 0, 0)
            assert stored.failed_required_step is None
            assert drain(session) == [["a"], ["b"]]
            session.refresh(stored)
            assert (stored.status, stored.completed_steps) == (ExecutionStatus.COMPLETED, 3)


def test_a_retry_waits_for_a_step_a_worker_is_failing_and_never_reopens_a_step_for_it(
    sessions: sessionmaker[Session],
) -> None:
    """``d`` waits for ``f`` and ``y``; ``f`` failed for good, which skipped ``d``. A
    worker has failed ``y`` for good but not committed (its settlement not yet written)
    when ``f`` is retried. Read without waiting, ``y`` looked running: the retry reopened
    ``d`` as waiting for it, after the worker's settlement had passed ``d`` by, and the
    run stayed running for good."""
    with sessions() as session:
        execution = started_run(session, [step("f"), step("y"), step("d", "f", "y")])
        leases = claim_leases(session, limit=2)
        runs.fail_step(session, leases["f"], "boom", retry=False)
        session.commit()
        lease, execution_id = leases["y"], execution.id
    outcome = while_a_worker_holds(
        sessions,
        lambda worker: runs.fail_step(worker, lease, "also boom", retry=False),
        lambda session: runs.retry_step(
            session, session.get_one(PlaybookExecution, execution_id), "f"
        ),
    )

    assert isinstance(outcome, runs.RetryError), outcome
    assert "is failed" in str(outcome)
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        states = {name: run.status for name, run in by_name(stored).items()}
        assert stored.status is ExecutionStatus.FAILED
        assert states == {"f": StepStatus.FAILED, "y": StepStatus.FAILED, "d": StepStatus.SKIPPED}


RETRY_RACES = 20


def test_two_retries_of_a_step_at_once_retry_it_once_and_never_deadlock(
    sessions: sessionmaker[Session],
) -> None:
    """Two operators retry the same failed step at once. Each read the run's step rows
    under a share lock, then wrote some of them: each waited for the other's share lock,
    a deadlock (MariaDB and PostgreSQL, in a fifth to a third of the races). One retry
    goes first; the other finds the step no longer failed."""
    ids: list[int] = []
    with sessions() as session:
        for _ in range(RETRY_RACES):
            execution = started_run(session, [step("a"), step("b", "a"), step("side")])
            leases = claim_leases(session, limit=2)
            runs.fail_step(session, leases["a"], "boom", retry=False)
            session.commit()
            ids.append(execution.id)

    def retry(execution_id: int, _thread: int) -> object:
        with sessions() as session:
            reopened = runs.retry_step(
                session, session.get_one(PlaybookExecution, execution_id), "a"
            )
            session.commit()
            return reopened

    races = [run_in_threads(2, partial(retry, each)) for each in ids]
    refused = [outcome for outcomes in races for outcome in outcomes if outcome != ["a", "b"]]
    assert all(isinstance(outcome, runs.RetryError) for outcome in refused), refused
    assert len(refused) == RETRY_RACES
    with sessions() as session:
        for execution_id in ids:
            stored = session.get_one(PlaybookExecution, execution_id)
            assert stored.status is ExecutionStatus.RUNNING
            assert stored.failed_steps == 0
            assert {name: run.status for name, run in by_name(stored).items()} == {
                "a": StepStatus.PENDING,
                "b": StepStatus.PENDING,
                "side": StepStatus.RUNNING,
            }
