"""``claim_ready_steps``: ready step executions go to exactly one worker each, leases
expire, failed steps come back after their delay until their attempts run out."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from agentical.db import runs
from agentical.db.models.playbook import (
    ExecutionStatus,
    LeaseLostError,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
    claim_ready_steps,
    start_execution,
)
from agentical.db.testing.factories import make_playbook
from agentical.db.types import utc_now
from tests.concurrency.builders import running_execution
from tests.concurrency.conftest import THREAD_TIMEOUT_SECONDS, run_in_threads

WORKERS = 4
STEPS = 200


def _runs(session: Session, execution_id: int) -> list[PlaybookStepExecution]:
    return list(
        session.scalars(
            select(PlaybookStepExecution)
            .where(PlaybookStepExecution.playbook_execution_id == execution_id)
            .order_by(PlaybookStepExecution.step_order)
        )
    )


def test_four_workers_claim_each_of_200_ready_steps_exactly_once(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution_id = running_execution(session, steps=STEPS).id
        session.commit()

    def work(worker: int) -> list[int]:
        claimed: list[int] = []
        deadline = time.monotonic() + THREAD_TIMEOUT_SECONDS / 2
        with sessions() as session:
            while time.monotonic() < deadline:
                batch = claim_ready_steps(session, worker_id=f"worker-{worker}", limit=7)
                session.commit()
                if not batch:
                    return claimed
                claimed.extend(step_run.id for step_run in batch)
        return claimed

    outcomes = run_in_threads(WORKERS, work)
    claims = [step_id for outcome in outcomes for step_id in outcome]  # type: ignore[union-attr]
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    with sessions() as session:
        runs = _runs(session, execution_id)
        assert sorted(claims) == sorted(run.id for run in runs)  # each once, none lost
        assert {run.status for run in runs} == {StepStatus.RUNNING}
        by_worker = {f"worker-{w}": set(o) for w, o in enumerate(outcomes)}  # type: ignore[arg-type]
        assert all(run.id in by_worker[run.claimed_by or ""] for run in runs)


def test_a_claim_is_running_with_a_worker_and_a_lease(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2)
        session.commit()
        before = utc_now()
        (claimed,) = claim_ready_steps(session, worker_id="w1", lease_seconds=120)
        session.commit()
    with sessions() as session:
        stored = session.get(PlaybookStepExecution, claimed.id)
        assert stored is not None
        assert (stored.status, stored.claimed_by, stored.step_order) == (
            StepStatus.RUNNING,
            "w1",
            1,
        )
        assert stored.started_at is not None
        assert stored.lease_expires_at is not None
        lease = stored.lease_expires_at - before
        assert timedelta(seconds=119) < lease < timedelta(seconds=130)
        assert _runs(session, execution.id)[1].status is StepStatus.PENDING


def test_limit_takes_the_oldest_ready_steps(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=5)
        session.commit()
        claimed = claim_ready_steps(session, worker_id="w", limit=3)
        assert [run.step_order for run in claimed] == [1, 2, 3]
        assert len(claim_ready_steps(session, worker_id="w", limit=10)) == 2
        assert claim_ready_steps(session, worker_id="w", limit=10) == []
        session.commit()
        assert execution.id is not None


def test_a_step_waits_for_its_dependencies_completed_or_skipped(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        running_execution(session, steps=3, chain=True)
        session.commit()
        (first,) = claim_ready_steps(session, worker_id="w", limit=5)
        assert first.step_order == 1
        assert claim_ready_steps(session, worker_id="w", limit=5) == []
        first.complete_step({"ok": True})
        session.commit()
        (second,) = claim_ready_steps(session, worker_id="w", limit=5)
        assert second.step_order == 2
        session.commit()


def test_a_skipped_dependency_counts_as_done(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2, chain=True)
        _runs(session, execution.id)[0].skip_step("not needed")
        session.commit()
        (claimed,) = claim_ready_steps(session, worker_id="w")
        assert claimed.step_order == 2


@pytest.mark.parametrize("action", ["pause", "cancel", "pending"])
def test_nothing_is_claimed_from_an_execution_that_is_not_running(
    sessions: sessionmaker[Session], action: str
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2)
        if action == "pause":
            execution.pause_execution()
        elif action == "cancel":
            execution.cancel_execution("stop")
        else:
            execution.status = execution.status.PENDING
        session.commit()
        assert claim_ready_steps(session, worker_id="w", limit=5) == []


def _let_lease_expire(sessions: sessionmaker[Session], step_id: int) -> None:
    """What the clock would do: the lease ends in the past (the row version is kept)."""
    with sessions() as session:
        session.execute(
            update(PlaybookStepExecution)
            .where(PlaybookStepExecution.id == step_id)
            .values(
                lease_expires_at=utc_now() - timedelta(seconds=1),
                claim_due_at=utc_now() - timedelta(seconds=1),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()


def test_an_expired_lease_is_claimed_again_and_the_old_worker_is_fenced_off(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        running_execution(session, steps=1)
        session.commit()
    with sessions() as slow, sessions() as fast:
        (mine,) = claim_ready_steps(slow, worker_id="slow", lease_seconds=60)
        slow.commit()
        step_id = mine.id
        assert claim_ready_steps(fast, worker_id="fast") == []  # lease still valid
        fast.commit()
        _let_lease_expire(sessions, step_id)
        (theirs,) = claim_ready_steps(fast, worker_id="fast")
        fast.commit()
        assert theirs.id == step_id
        assert (theirs.claimed_by, theirs.retry_count, theirs.attempt) == ("fast", 0, 2)
        with pytest.raises(LeaseLostError, match="attempt 1"):
            runs.complete_step(slow, mine, {"late": True})
        slow.rollback()

        def finish_late_by_hand() -> None:
            mine.complete_step({"late": True})  # fenced at the flush
            slow.commit()

        with pytest.raises(LeaseLostError):
            finish_late_by_hand()
        slow.rollback()
        runs.complete_step(fast, theirs, {"done": True})
        fast.commit()
    with sessions() as session:
        stored = session.get(PlaybookStepExecution, step_id)
        assert stored is not None
        assert (stored.status, stored.output_data) == (StepStatus.COMPLETED, {"done": True})


def _make_due(sessions: sessionmaker[Session], step_id: int) -> None:
    """What the clock would do: the retry delay is over."""
    with sessions() as session:
        past = utc_now() - timedelta(seconds=1)
        session.execute(
            update(PlaybookStepExecution)
            .where(PlaybookStepExecution.id == step_id)
            .values(next_attempt_at=past, claim_due_at=past)
            .execution_options(synchronize_session=False)
        )
        session.commit()


def test_a_failed_step_is_retried_after_its_delay_until_its_attempts_run_out(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=1, retry_attempts=2, retry_delay_seconds=0)
        session.commit()
        for attempt in range(3):
            (claimed,) = claim_ready_steps(session, worker_id="w")
            assert (claimed.retry_count, claimed.attempt) == (attempt, attempt + 1)
            retried = runs.fail_step(session, claimed, f"boom {attempt}")
            session.commit()
            assert retried is (attempt < 2)
            assert execution.failed_steps == (0 if retried else 1)  # a retry is no failure
        assert claim_ready_steps(session, worker_id="w") == []
        session.refresh(claimed)
        assert (claimed.status, claimed.error_message) == (StepStatus.FAILED, "boom 2")
        session.refresh(execution)
        assert (execution.status, execution.overall_success) == (ExecutionStatus.FAILED, False)


def test_a_retry_leaves_the_execution_row_alone_and_is_never_counted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution_id = running_execution(
            session, steps=2, retry_attempts=1, retry_delay_seconds=0
        ).id
        session.commit()
        first, second = claim_ready_steps(session, worker_id="w", limit=2)
        runs.fail_step(session, first, "boom")
        runs.complete_step(session, second, {"ok": True})
        session.commit()
    with sessions() as operator, sessions() as worker:
        held = operator.get_one(PlaybookExecution, execution_id)
        assert (held.failed_steps, held.progress_percentage) == (0, 50.0)
        (retry,) = claim_ready_steps(worker, worker_id="w")
        worker.commit()
        assert retry.id == first.id
        held.pause_execution()
        operator.commit()  # no StaleDataError: the retry did not touch the execution row
    with sessions() as session:
        stored = session.get_one(PlaybookExecution, execution_id)
        assert stored.status is ExecutionStatus.PAUSED
        assert (stored.completed_steps, stored.failed_steps, stored.progress_percentage) == (
            1,
            0,
            50.0,
        )


def test_a_failed_step_is_not_retried_before_its_delay(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        running_execution(session, steps=1, retry_attempts=3, retry_delay_seconds=3600)
        session.commit()
        (claimed,) = claim_ready_steps(session, worker_id="w")
        before = utc_now()
        assert runs.fail_step(session, claimed, "boom") is True
        session.commit()
        assert (claimed.status, claimed.retry_count) == (StepStatus.PENDING, 1)
        assert claimed.next_attempt_at is not None
        delay = claimed.next_attempt_at - before
        assert timedelta(seconds=3590) < delay < timedelta(seconds=3610)
        assert claim_ready_steps(session, worker_id="w") == []
        session.commit()
        _make_due(sessions, claimed.id)
        (again,) = claim_ready_steps(session, worker_id="w2")
        assert (again.id, again.retry_count, again.claimed_by) == (claimed.id, 1, "w2")
        session.commit()


def test_a_step_without_retries_stays_failed(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        running_execution(session, steps=1, retry_attempts=0, retry_delay_seconds=0)
        session.commit()
        (claimed,) = claim_ready_steps(session, worker_id="w")
        claimed.fail_step("boom")
        session.commit()
        assert claimed.next_attempt_at is None
        assert claim_ready_steps(session, worker_id="w") == []


def test_a_claim_locks_only_the_rows_it_returns_and_others_skip_them(
    sessions: sessionmaker[Session], database: str
) -> None:
    if database == "sqlite":
        pytest.skip("SQLite has no row locks: claims are serialised by its write lock")
    with sessions() as session:
        running_execution(session, steps=5)
        session.commit()
    with sessions() as holder:
        (held,) = claim_ready_steps(holder, worker_id="holder")  # not committed: still locked

        def other_worker() -> list[int]:
            with sessions() as session:
                ids = [run.id for run in claim_ready_steps(session, worker_id="other", limit=10)]
                session.commit()
                return ids

        with ThreadPoolExecutor(max_workers=1) as pool:
            other = pool.submit(other_worker).result(timeout=10)  # skipped, not waited for
        assert held.id not in other
        assert len(other) == 4  # the holder's claim hides no other ready row
        holder.commit()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"worker_id": ""}, "worker_id"),
        ({"worker_id": "x" * 256}, "worker_id"),
        ({"worker_id": "w", "limit": 0}, "limit"),
        ({"worker_id": "w", "limit": True}, "limit"),
        ({"worker_id": "w", "lease_seconds": 0}, "lease_seconds"),
        ({"worker_id": "w", "lease_seconds": float("inf")}, "lease_seconds"),
    ],
)
def test_bad_arguments_are_refused(
    sessions: sessionmaker[Session], arguments: dict[str, object], message: str
) -> None:
    with sessions() as session, pytest.raises(ValueError, match=message):
        claim_ready_steps(session, **arguments)  # type: ignore[arg-type]


def test_claims_leave_the_execution_row_alone(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=3)
        session.commit()
        version = execution.row_version
        claim_ready_steps(session, worker_id="w", limit=3)
        session.commit()
        session.refresh(execution)
        assert execution.row_version == version
        count = session.scalar(
            select(func.count())
            .select_from(PlaybookExecution)
            .where(PlaybookExecution.id == execution.id)
        )
        assert count == 1


def test_an_optional_step_that_failed_for_good_releases_its_dependants(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(
            session, steps=2, chain=True, retry_attempts=1, retry_delay_seconds=0, optional=1
        )
        session.commit()
        (first,) = claim_ready_steps(session, worker_id="w")
        runs.fail_step(session, first, "optional, attempt 1")
        session.commit()
        assert [run.step_order for run in execution.ready_steps()] == [1]  # the retry
        (retry,) = claim_ready_steps(session, worker_id="w", limit=5)
        assert retry.id == first.id
        runs.fail_step(session, retry, "optional, attempt 2")
        session.commit()
        assert [run.step_order for run in execution.ready_steps()] == [2]
        (second,) = claim_ready_steps(session, worker_id="w", limit=5)
        assert second.step_order == 2


def test_a_required_step_blocks_its_dependants_only_once_its_retries_are_used_up(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(
            session, steps=2, chain=True, retry_attempts=1, retry_delay_seconds=0
        )
        session.commit()
        (first,) = claim_ready_steps(session, worker_id="w")
        runs.fail_step(session, first, "attempt 1")
        session.commit()
        dependant = _runs(session, execution.id)[1]
        assert dependant.status is StepStatus.PENDING
        (retry,) = claim_ready_steps(session, worker_id="w")
        runs.fail_step(session, retry, "attempt 2")
        session.commit()
        session.refresh(dependant)
        assert (dependant.status, dependant.error_message) == (
            StepStatus.SKIPPED,
            f"Skipped: dependency '{retry.step_name}' failed",
        )
        session.refresh(execution)
        assert (execution.status, execution.error_message) == (
            ExecutionStatus.FAILED,
            f"step '{retry.step_name}' failed",
        )


def test_claims_agree_with_ready_steps_on_a_diamond(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        playbook = make_playbook(session, steps=["a", "b", "c", "d"], chain=False)
        a, b, c, d = playbook.steps
        b.add_dependency(a)
        c.add_dependency(a)
        d.add_dependency(b)
        d.add_dependency(c)
        session.commit()
        execution = playbook.new_execution()
        start_execution(session, execution)
        session.commit()
        seen: list[list[str]] = []
        while True:
            expected = sorted(run.step_name for run in execution.ready_steps())
            claimed = claim_ready_steps(session, worker_id="w", limit=10)
            assert sorted(run.step_name for run in claimed) == expected
            if not claimed:
                break
            seen.append(expected)
            for run in claimed:
                run.complete_step()
            session.commit()
        assert seen == [["a"], ["b", "c"], ["d"]]


def test_runs_claimed_then_cancelled_in_one_transaction_are_stored_skipped(
    sessions: sessionmaker[Session],
) -> None:
    """MariaDB writes a claim at the next flush, after the cancel has skipped its runs:
    the claim must not bring them back."""
    with sessions() as session:
        execution = running_execution(session, steps=2)
        session.commit()
        execution_id = execution.id
        claimed = claim_ready_steps(session, worker_id="w", limit=2)
        assert len(claimed) == 2
        runs.cancel_execution(session, execution, "operator stop")
        session.commit()
    with sessions() as session:
        stored = _runs(session, execution_id)
        assert {run.status for run in stored} == {StepStatus.SKIPPED}
        assert {run.lease_expires_at for run in stored} == {None}
        assert session.get_one(PlaybookExecution, execution_id).status is ExecutionStatus.CANCELLED


def test_a_step_claimed_and_completed_in_one_transaction_is_stored_completed_and_counted(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        execution = running_execution(session, steps=2)
        session.commit()
        execution_id = execution.id
    with sessions() as session:
        (claimed,) = claim_ready_steps(session, worker_id="w")
        runs.complete_step(session, claimed, {"ok": True})
        session.commit()
        name = claimed.step_name
    with sessions() as session:
        (stored,) = [run for run in _runs(session, execution_id) if run.step_name == name]
        assert (stored.status, stored.claimed_by, stored.attempt) == (StepStatus.COMPLETED, "w", 1)
        counted = session.get_one(PlaybookExecution, execution_id)
        assert (counted.completed_steps, counted.current_step) == (1, name)
