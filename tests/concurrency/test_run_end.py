"""Runs end exactly once and starts hold the limit, with real commits racing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from agentical.db import runs
from agentical.db.errors import ConflictError
from agentical.db.models.playbook import (
    ConcurrencyLimitError,
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
    claim_ready_steps,
    create_execution,
)
from agentical.db.types import utc_now
from tests.concurrency.conftest import (
    THREAD_TIMEOUT_SECONDS,
    run_in_threads,
    while_a_worker_holds,
)
from tests.db.runs.builders import by_name, claim_leases, drain, started_run, step


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


def _while_a_worker_completes(
    sessions: sessionmaker[Session],
    steps: list[dict[str, Any]],
    holding: str,
    action: Callable[[Session, int], object],
    *,
    after: str | None = None,
    **fields: Any,
) -> tuple[object, int]:
    """Run ``action(session, run_id)`` while a worker has completed ``holding`` of a new
    run of ``steps`` and not committed (``after``: a step it completed and committed
    first); what the action returned or raised, and the run's id."""
    with sessions() as session:
        execution = started_run(session, steps, **fields)
        leases = claim_leases(session, limit=2)
        if after is not None:
            runs.complete_step(session, leases[after], {})
            session.commit()
        lease, execution_id = leases[holding], execution.id
    outcome = while_a_worker_holds(
        sessions,
        lambda worker: runs.complete_step(worker, lease, {}),
        lambda session: action(session, execution_id),
    )
    return outcome, execution_id


def _check_completed_by_the_workers(sessions: sessionmaker[Session], execution_id: int) -> None:
    """The run of two steps ended completed, both counted: the action changed nothing."""
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert (stored.status, stored.completed_steps) == (ExecutionStatus.COMPLETED, 2)


def _enforce_late(session: Session, _execution_id: int) -> runs.TimeoutReport:
    return runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=5))


def _cancel_in(session: Session, execution_id: int) -> None:
    execution = session.get_one(PlaybookExecution, execution_id)
    runs.cancel_execution(session, execution, "operator stop")


def test_enforcing_a_run_timeout_waits_for_a_worker_finishing_a_step_of_it(
    sessions: sessionmaker[Session],
) -> None:
    """A worker has completed a step of a run past its deadline, not yet committed: the
    step row is its, and its settlement will take the run's row. Enforcing the timeout took
    the run's row first, then waited for the step row: a deadlock."""
    outcome, execution_id = _while_a_worker_completes(
        sessions, [step("a"), step("b")], "a", _enforce_late, timeout_minutes=1
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


APPROVAL = {"name": "sign_off", "type": "approval"}
CANCEL_RACES = 40


def _cancel(sessions: sessionmaker[Session], execution_id: int) -> BaseException | None:
    """Cancel the execution in a session of its own: ``None``, or the exception raised."""
    with sessions() as session:
        try:
            _cancel_in(session, execution_id)
            session.commit()
        except Exception as error:
            return error
    return None


def _check_ended_once(session: Session, execution_id: int, playbook_id: int) -> None:
    """The run ended once, approved or cancelled, and its figures and metrics agree."""
    stored = session.get_one(PlaybookExecution, execution_id)
    approved = stored.status is ExecutionStatus.COMPLETED
    assert stored.status in (ExecutionStatus.COMPLETED, ExecutionStatus.CANCELLED)
    assert [change["to"] for change in stored.status_history][1:] == [str(stored.status)]
    states = {name: run.status for name, run in by_name(stored).items()}
    assert states["sign_off"] is (StepStatus.COMPLETED if approved else StepStatus.SKIPPED)
    assert (stored.completed_steps, stored.skipped_steps) == ((3, 0) if approved else (2, 1))
    playbook = session.get_one(Playbook, playbook_id)
    metrics = {each.step_name: each.total_executions for each in playbook.steps}
    assert metrics == {"a": 1, "b": 1, "sign_off": int(approved)}
    assert playbook.total_executions == int(approved)


def test_a_cancel_racing_the_approval_that_ends_the_run_never_deadlocks(
    sessions: sessionmaker[Session],
) -> None:
    """The approval of the last unfinished step ends the run: its step row, the run's row,
    then a share-locked read of the run's step rows (the steps' metrics). A cancel at the
    same moment skipped the run's unfinished steps by an UPDATE that, on MariaDB, locked
    every step row it read and then waited for the approved one: a deadlock (1213) in
    3 to 12 races of 40. The cancel starts a little later each race, so that some races
    start it while the approval is between its step row and its read. One of the two
    wins; the other is refused with a conflict, never a database error."""
    started: list[tuple[int, int, int]] = []
    with sessions() as session:
        for _ in range(CANCEL_RACES):
            execution = started_run(session, [step("a"), step("b", "a"), APPROVAL])
            drain(session)
            sign_off = by_name(execution)["sign_off"]
            started.append((execution.id, sign_off.id, execution.playbook_id))

    def race(index: int, number: int) -> object:
        execution_id, sign_off_id, _playbook_id = started[number]
        with sessions() as session:
            execution = session.get_one(PlaybookExecution, execution_id)
            sign_off = session.get_one(PlaybookStepExecution, sign_off_id)
            assert sign_off.execution is execution
            barrier.wait()
            try:
                if index == 0:
                    time.sleep((number % 20) / 4000)  # 0 to 4.75 ms
                    runs.cancel_execution(session, execution, "operator stop")
                else:
                    runs.approve_step(session, sign_off, "bob")
                session.commit()
            except (ConflictError, StaleDataError) as error:
                return type(error)
        return None

    barrier = threading.Barrier(2, timeout=THREAD_TIMEOUT_SECONDS)
    races = [run_in_threads(2, partial(race, number=number)) for number in range(CANCEL_RACES)]
    errors = [each for outcomes in races for each in outcomes if isinstance(each, BaseException)]
    assert not errors, f"{len(errors)} of {CANCEL_RACES} races: {errors[0]!r}"
    assert all(outcomes.count(None) == 1 for outcomes in races), races
    with sessions() as session:
        for execution_id, _sign_off_id, playbook_id in started:
            _check_ended_once(session, execution_id, playbook_id)


def test_a_cancel_started_while_the_ending_approval_holds_its_step_waits_for_it(
    sessions: sessionmaker[Session],
) -> None:
    """The approval has written its step row, not yet ended the run, when the cancel
    starts: the cancel waits for it (and then finds the run completed) instead of holding
    step rows the run's end reads."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b", "a"), APPROVAL])
        drain(session)
        sign_off_id = by_name(execution)["sign_off"].id
        execution_id, playbook_id = execution.id, execution.playbook_id
    cancelled: list[BaseException | None] = []
    cancelling = threading.Thread(target=lambda: cancelled.append(_cancel(sessions, execution_id)))

    def step_row_written(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("UPDATE playbook_step_executions") and not cancelling.ident:
            cancelling.start()
            cancelling.join(timeout=1.0)  # the cancel waits for the approved row, or not

    with sessions() as approver:
        sign_off = approver.get_one(PlaybookStepExecution, sign_off_id)
        event.listen(approver.connection(), "after_cursor_execute", step_row_written)
        runs.approve_step(approver, sign_off, "bob")
        approver.commit()
    cancelling.join(timeout=THREAD_TIMEOUT_SECONDS)

    assert len(cancelled) == 1, "the cancel did not end"
    assert isinstance(cancelled[0], StaleDataError | ConflictError), cancelled
    with sessions() as session:
        _check_ended_once(session, execution_id, playbook_id)
        assert session.get_one(PlaybookExecution, execution_id).status is ExecutionStatus.COMPLETED


def test_a_cancel_started_while_a_worker_finishes_the_last_step_waits_for_it(
    sessions: sessionmaker[Session],
) -> None:
    """The same with a worker: it has completed the last step, not yet committed (its
    settlement, which ends the run, runs at the commit)."""
    outcome, execution_id = _while_a_worker_completes(
        sessions, [step("a"), step("b")], "b", _cancel_in, after="a"
    )

    assert isinstance(outcome, StaleDataError | ConflictError), outcome
    _check_completed_by_the_workers(sessions, execution_id)


def test_a_cancel_started_while_a_worker_finishes_a_step_waits_for_it(
    sessions: sessionmaker[Session],
) -> None:
    """A worker has completed ``b``, not yet committed: its settlement will lower the
    unmet count of ``c``, the step after it. When MariaDB's plan for the cancel's UPDATE
    went through the (execution, status) index, pending rows before running ones, the
    cancel held ``c`` and waited for ``b``: a deadlock (10 races in 210, with that plan).
    The cancel waits for the worker, then skips ``a`` and ``c``."""
    outcome, execution_id = _while_a_worker_completes(
        sessions, [step("a"), step("b"), step("c", "b")], "b", _cancel_in
    )

    assert outcome is None, outcome
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        states = {name: run.status for name, run in by_name(stored).items()}
        assert stored.status is ExecutionStatus.CANCELLED
        assert states == {
            "a": StepStatus.SKIPPED,
            "b": StepStatus.COMPLETED,
            "c": StepStatus.SKIPPED,
        }
        assert (stored.completed_steps, stored.skipped_steps) == (1, 2)


def test_enforcing_a_run_timeout_waits_for_a_worker_finishing_its_last_step(
    sessions: sessionmaker[Session],
) -> None:
    """A worker has completed the last step of a run past its deadline, not yet committed:
    its settlement ends the run, reading every step row of it. Enforcing the timeout waits
    for it, then finds the run completed."""
    outcome, execution_id = _while_a_worker_completes(
        sessions, [step("a"), step("b")], "b", _enforce_late, after="a", timeout_minutes=1
    )

    assert isinstance(outcome, runs.TimeoutReport), outcome
    assert outcome.executions == []
    _check_completed_by_the_workers(sessions, execution_id)


def test_a_cancel_whose_transaction_began_before_a_step_finished_never_deadlocks(
    sessions: sessionmaker[Session],
) -> None:
    """The operator's transaction loaded the run, then ``a`` finished, then the worker
    finishing ``b`` (the last step) was between its step row and the run's metrics, which
    read every step row. At MariaDB's REPEATABLE READ the cancel still saw ``a`` unfinished
    in its snapshot (these tests' engines keep the server's level): it locked ``a``,
    waited for ``b``, and the metrics, share-locking every finished step row, waited for
    ``a``: a deadlock, every time. Now the metrics read without a lock: the cancel waits
    for the worker and is refused, the run is completed."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")])
        leases = claim_leases(session, limit=2)
        execution_id = execution.id
    at_metrics = threading.Event()

    def pause_at_metrics(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE PLAYBOOK_STEPS"):
            at_metrics.set()
            time.sleep(1.0)  # the cancel runs meanwhile

    def finish_last() -> None:
        with sessions() as worker:
            runs.complete_step(worker, leases["b"], {})
            event.listen(worker.connection(), "before_cursor_execute", pause_at_metrics)
            worker.commit()

    with sessions() as operator:
        loaded = operator.get_one(PlaybookExecution, execution_id)
        with sessions() as worker:
            runs.complete_step(worker, leases["a"], {})
            worker.commit()
        last = threading.Thread(target=finish_last)
        last.start()
        assert at_metrics.wait(THREAD_TIMEOUT_SECONDS)
        try:
            runs.cancel_execution(operator, loaded, "operator stop")
            operator.commit()
            outcome: BaseException | None = None
        except Exception as error:
            outcome = error
        last.join(THREAD_TIMEOUT_SECONDS)

    assert isinstance(outcome, ConflictError | StaleDataError), outcome
    _check_completed_by_the_workers(sessions, execution_id)


def test_the_run_s_end_counts_a_step_finished_after_its_transaction_began(
    sessions: sessionmaker[Session],
) -> None:
    """The worker ending the run read something first (at MariaDB's REPEATABLE READ, its
    snapshot from then on), then the other step finished and committed. The steps'
    metrics count both: a row the snapshot shows unfinished is read again, latest."""
    with sessions() as session:
        execution = started_run(session, [step("a"), step("b")])
        leases = claim_leases(session, limit=2)
        execution_id, playbook_id = execution.id, execution.playbook_id

    with sessions() as last:
        assert last.get_one(PlaybookStepExecution, leases["a"].step_run_id).status is (
            StepStatus.RUNNING
        )
        with sessions() as first:
            runs.complete_step(first, leases["a"], {})
            first.commit()
        runs.complete_step(last, leases["b"], {})
        last.commit()

    with sessions() as session:
        assert session.get_one(PlaybookExecution, execution_id).status is ExecutionStatus.COMPLETED
        playbook = session.get_one(Playbook, playbook_id)
        assert {each.step_name: each.total_executions for each in playbook.steps} == {
            "a": 1,
            "b": 1,
        }
