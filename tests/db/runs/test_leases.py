"""Fenced leases, heartbeats, cancelling, timeouts and the concurrency limit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.errors import InvalidInputError
from agentical.db.models.playbook import (
    ConcurrencyLimitError,
    ExecutionStatus,
    LeaseLostError,
    StepStatus,
    claim_ready_steps,
    create_execution,
)
from agentical.db.types import utc_now
from tests.db.runs.builders import by_name, started_run, step


def test_a_heartbeat_extends_a_held_lease_by_the_database_clock(session: Session) -> None:
    started_run(session, [step("a")])
    (run,) = claim_ready_steps(session, worker_id="w", lease_seconds=30)
    session.commit()
    first_end = run.lease_expires_at
    assert first_end is not None
    runs.heartbeat(session, run, lease_seconds=600)
    session.commit()
    assert run.lease_expires_at is not None
    assert run.lease_expires_at - first_end > timedelta(seconds=500)
    assert run.claim_due_at == run.lease_expires_at  # claimable again only once it ends


def test_a_stale_token_changes_nothing(session: Session) -> None:
    started_run(session, [step("a")])
    (run,) = claim_ready_steps(session, worker_id="w")
    session.commit()
    for action in (
        lambda: runs.complete_step(session, run, {"x": 1}, token=run.attempt + 1),
        lambda: runs.fail_step(session, run, "boom", token=0),
        lambda: runs.heartbeat(session, run, token=7),
    ):
        with pytest.raises(LeaseLostError, match="lease lost"):
            action()
    session.refresh(run)
    assert (run.status, run.output_data, run.attempt) == (StepStatus.RUNNING, {}, 1)


@pytest.mark.parametrize("message", ["bad\x00byte", "/srv/\udcff", "é" * 40_000])
def test_a_failure_message_no_database_stores_is_refused_and_changes_nothing(
    session: Session, message: str
) -> None:
    started_run(session, [step("a")])
    (run,) = claim_ready_steps(session, worker_id="w")
    session.commit()
    with pytest.raises(InvalidInputError, match=r"^error_message "):
        runs.fail_step(session, run, message)
    session.rollback()
    session.refresh(run)
    assert (run.status, run.error_message) == (StepStatus.RUNNING, None)


def test_cancelling_skips_pending_steps_and_fences_the_claimed_ones(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b"), step("c", "a")])
    claimed = claim_ready_steps(session, worker_id="w", limit=5)
    session.commit()
    runs.cancel_execution(session, execution, "change freeze")
    session.commit()
    for run in claimed:
        with pytest.raises(LeaseLostError):
            runs.complete_step(session, run, {"late": True})
        session.rollback()
    session.refresh(execution)
    assert (execution.status, execution.cancellation_reason) == (
        ExecutionStatus.CANCELLED,
        "change freeze",
    )
    assert (execution.completed_steps, execution.skipped_steps) == (0, 3)
    assert {run.status for run in execution.step_executions} == {StepStatus.SKIPPED}
    assert execution.playbook.total_executions == 0


def test_an_attempt_past_its_step_timeout_fails_and_its_holder_is_fenced(
    session: Session,
) -> None:
    execution = started_run(
        session, [step("slow", timeout_minutes=1, retry_attempts=1, retry_delay_seconds=0)]
    )
    (run,) = claim_ready_steps(session, worker_id="w")
    session.commit()
    assert runs.enforce_timeouts(session) == runs.TimeoutReport()  # not yet
    report = runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=2))
    session.commit()
    assert report.steps == [(run.id, "slow")]
    with pytest.raises(LeaseLostError):
        runs.complete_step(session, run, {"late": True})
    session.rollback()
    session.refresh(run)
    assert (run.status, run.error_message, run.retry_count) == (
        StepStatus.PENDING,
        "timed out after 1 min",
        1,
    )  # retried: it had an attempt left
    (again,) = claim_ready_steps(session, worker_id="w2")
    session.commit()
    runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=2))
    session.commit()
    session.refresh(execution)
    assert (execution.status, execution.error_message) == (
        ExecutionStatus.FAILED,
        "step 'slow' failed",
    )
    assert again.id == run.id


def test_a_run_past_its_playbook_timeout_fails_with_the_reason(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a")], timeout_minutes=30)
    claim_ready_steps(session, worker_id="w")
    session.commit()
    report = runs.enforce_timeouts(session, now=utc_now() + timedelta(minutes=31))
    session.commit()
    assert report.executions == [execution.id]
    session.refresh(execution)
    assert (execution.status, execution.overall_success, execution.error_message) == (
        ExecutionStatus.FAILED,
        False,
        "execution timed out after 30 min",
    )
    assert [run.error_message for run in execution.step_executions] == [
        "Skipped: execution timed out after 30 min"
    ] * 2


def test_a_playbook_without_a_timeout_gives_its_runs_no_deadline(session: Session) -> None:
    execution = started_run(session, [step("a")], timeout_minutes=None)
    session.refresh(execution.playbook)
    assert execution.playbook.timeout_minutes is None  # stored as given, not the default 60
    assert execution.deadline_at is None
    report = runs.enforce_timeouts(session, now=utc_now() + timedelta(days=30))
    session.commit()
    assert report == runs.TimeoutReport()
    session.refresh(execution)
    assert execution.status is ExecutionStatus.RUNNING


def test_no_path_starts_more_runs_than_the_playbook_allows(session: Session) -> None:
    execution = started_run(session, [step("a")], max_concurrent_executions=1)
    second = create_execution(session, execution.playbook)
    with pytest.raises(ConcurrencyLimitError):
        runs.start_execution(session, second)
    assert second.status is ExecutionStatus.PENDING
    second.start_execution()  # the model method is held to the same limit, at the flush
    with pytest.raises(ConcurrencyLimitError):
        session.flush()
    session.rollback()


def test_a_manual_step_in_a_cancelled_run_cannot_be_completed(session: Session) -> None:
    execution = started_run(session, [{"name": "check", "type": "manual"}])
    runs.cancel_execution(session, execution)
    session.commit()
    check = by_name(execution)["check"]
    assert check.status is StepStatus.SKIPPED
    with pytest.raises(ValueError, match="cannot move"):
        check.complete_step({}, completed_by="alice")
