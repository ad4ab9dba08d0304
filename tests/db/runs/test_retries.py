"""An operator's retry of a failed step, in a run that has not ended."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from agentical.db import history, runs
from agentical.db.audit import AuditAction, acting_as
from agentical.db.models.playbook import (
    ConflictError,
    ExecutionStatus,
    NotFoundError,
    PlaybookExecution,
    StepStatus,
    claim_ready_steps,
)
from tests.db.runs.builders import by_name, drain, started_run, step

# A manual step nobody finishes keeps a run from ending while a retry is decided.
HOLD = {"name": "sign_off", "type": "manual"}


def states(execution: PlaybookExecution) -> list[tuple[str, StepStatus, int, int]]:
    return [
        (run.step_name, run.status, run.unmet_dependencies, run.retry_count)
        for run in execution.step_executions
    ]


def figures(execution: PlaybookExecution) -> tuple[Any, ...]:
    return (
        execution.status,
        execution.completed_steps,
        execution.failed_steps,
        execution.skipped_steps,
        execution.failed_required_step,
        execution.progress_percentage,
    )


def sign_off(session: Session, execution: PlaybookExecution) -> None:
    by_name(execution)["sign_off"].complete_step({}, completed_by="alice")
    session.commit()


def test_a_retry_takes_back_the_skipped_chain_and_the_run_then_completes(
    session: Session,
) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), step("c", "b"), HOLD])
    assert drain(session, failing={"a"}) == [["a"]]
    session.refresh(execution)
    assert figures(execution) == (ExecutionStatus.RUNNING, 0, 1, 2, "a", 75.0)

    assert runs.retry_step(session, execution, "a") == ["a", "b", "c"]
    session.commit()
    session.refresh(execution)
    assert figures(execution) == (ExecutionStatus.RUNNING, 0, 0, 0, None, 0.0)
    assert states(execution) == [
        ("a", StepStatus.PENDING, 0, 1),
        ("b", StepStatus.PENDING, 1, 0),
        ("c", StepStatus.PENDING, 1, 0),
        ("sign_off", StepStatus.PENDING, 0, 0),
    ]
    assert by_name(execution)["b"].error_message is None

    assert drain(session) == [["a"], ["b"], ["c"]]
    sign_off(session, execution)
    session.refresh(execution)
    assert figures(execution) == (ExecutionStatus.COMPLETED, 4, 0, 0, None, 100.0)
    assert execution.overall_success is True


def test_a_retried_step_that_fails_again_fails_the_run_as_before(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), HOLD])
    drain(session, failing={"a"})
    runs.retry_step(session, execution, "a")
    session.commit()
    assert drain(session, failing={"a"}) == [["a"]]
    sign_off(session, execution)
    session.refresh(execution)
    assert (execution.status, execution.error_message) == (
        ExecutionStatus.FAILED,
        "step 'a' failed",
    )
    assert (execution.failed_steps, execution.skipped_steps) == (1, 1)
    assert by_name(execution)["a"].retry_count == 1


def test_a_retry_of_an_ended_run_is_refused_and_changes_nothing(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a")])
    drain(session, failing={"a"})
    session.refresh(execution)
    before = (figures(execution), states(execution))
    with pytest.raises(ConflictError, match=r"is failed: .*an ended run is final"):
        runs.retry_step(session, execution, "a")
    session.commit()
    session.refresh(execution)
    for run in execution.step_executions:
        session.refresh(run)
    assert (figures(execution), states(execution)) == before
    assert claim_ready_steps(session, worker_id="w") == []


def test_a_step_blocked_by_two_failures_waits_until_both_are_retried(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b"), step("c", "a", "b"), HOLD])
    drain(session, failing={"a", "b"})
    assert runs.retry_step(session, execution, "a") == ["a"]
    session.commit()
    session.refresh(execution)
    assert execution.failed_required_step == "b"
    assert by_name(execution)["c"].status is StepStatus.SKIPPED
    assert runs.retry_step(session, execution, "b") == ["b", "c"]
    session.commit()
    assert by_name(execution)["c"].unmet_dependencies == 2
    assert drain(session) == [["a", "b"], ["c"]]
    sign_off(session, execution)
    session.refresh(execution)
    assert execution.status is ExecutionStatus.COMPLETED


def test_retrying_a_skipped_step_retries_the_failure_that_skipped_it(session: Session) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), step("c", "b"), HOLD])
    drain(session, failing={"a"})
    assert runs.retry_step(session, execution, "c") == ["a", "b", "c"]


def test_a_retried_optional_step_holds_its_released_dependants_back_again(
    session: Session,
) -> None:
    execution = started_run(
        session,
        [step("a", optional=True), {"name": "check", "type": "manual", "depends_on": ["a"]}],
    )
    drain(session, failing={"a"})
    assert [run.step_name for run in execution.ready_steps()] == ["check"]
    assert runs.retry_step(session, execution, "a") == ["a"]
    session.commit()
    assert [run.step_name for run in execution.ready_steps()] == ["a"]
    assert drain(session) == [["a"]]
    assert [run.step_name for run in execution.ready_steps()] == ["check"]
    by_name(execution)["check"].complete_step({}, completed_by="alice")
    session.commit()
    session.refresh(execution)
    assert figures(execution) == (ExecutionStatus.COMPLETED, 2, 0, 0, None, 100.0)


def test_a_paused_run_retries_but_claims_nothing_until_it_resumes(session: Session) -> None:
    execution = started_run(session, [step("a"), HOLD])
    drain(session, failing={"a"})
    runs.pause_execution(session, execution)
    runs.retry_step(session, execution, "a")
    session.commit()
    assert claim_ready_steps(session, worker_id="w") == []
    runs.resume_execution(session, execution)
    session.commit()
    assert drain(session) == [["a"]]


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("done", r"'done' is completed: only a failed or skipped step"),
        ("sign_off", r"'sign_off' is pending"),
        ("skipped", r"'skipped' was skipped, not blocked by a failed step"),
    ],
)
def test_a_step_that_did_not_fail_is_not_retried(
    session: Session, target: str, reason: str
) -> None:
    execution = started_run(
        session,
        [
            step("done"),
            step("skipped", "done", conditions={"when": "false"}),
            step("broken"),
            HOLD,
        ],
    )
    drain(session, failing={"broken"})
    with pytest.raises(runs.RetryError, match=reason):
        runs.retry_step(session, execution, target)


def test_a_rejected_approval_is_never_retried(session: Session) -> None:
    execution = started_run(
        session, [{"name": "approve", "type": "approval"}, step("deploy", "approve"), HOLD]
    )
    runs.reject_step(session, by_name(execution)["approve"], "bob", "not today")
    session.commit()
    with pytest.raises(runs.RetryError, match="rejected by bob: a rejection is final"):
        runs.retry_step(session, execution, "deploy")
    session.rollback()
    assert by_name(execution)["deploy"].status is StepStatus.SKIPPED


def test_an_unknown_step_is_not_found_by_name(session: Session) -> None:
    execution = started_run(session, [step("a"), HOLD])
    with pytest.raises(NotFoundError, match="has no step 'nope'"):
        runs.retry_step(session, execution, "nope")


def test_a_step_whose_condition_could_not_be_evaluated_is_not_retried(session: Session) -> None:
    execution = started_run(
        session,
        [
            step("probe"),
            step("repair", "probe", conditions={"when": "steps.probe.output.x > 1"}),
            HOLD,
        ],
    )
    drain(session)
    assert by_name(execution)["repair"].status is StepStatus.FAILED
    with pytest.raises(runs.RetryError, match="failed evaluating its condition"):
        runs.retry_step(session, execution, "repair")


def test_a_retried_manual_step_waits_for_a_person_not_a_worker(session: Session) -> None:
    execution = started_run(
        session, [{"name": "check", "type": "manual"}, step("after", "check"), step("slow")]
    )
    claimed = claim_ready_steps(session, worker_id="w")  # "slow" keeps the run going
    session.commit()
    check = by_name(execution)["check"]
    check.start_step()
    check.fail_step("not reachable")
    session.commit()
    assert runs.retry_step(session, execution, "check") == ["check", "after"]
    session.commit()
    assert [run.step_name for run in execution.ready_steps()] == ["check"]
    runs.complete_step(session, claimed[0])
    session.commit()
    assert claim_ready_steps(session, worker_id="w") == []
    by_name(execution)["check"].complete_step({}, completed_by="alice")
    session.commit()
    assert drain(session) == [["after"]]
    session.refresh(execution)
    assert execution.status is ExecutionStatus.COMPLETED


def test_a_retry_is_in_the_audit_trail_with_its_actor_and_the_steps_it_runs_again(
    session: Session,
) -> None:
    execution = started_run(session, [step("a"), step("b", "a"), HOLD])
    drain(session, failing={"a"})
    with acting_as("carol", request_id="req-7"):
        runs.retry_step(session, execution, "b")
    session.commit()

    [entry] = session.scalars(
        history.audit_trail(execution=execution, action=AuditAction.RETRY)
    ).all()
    assert (entry.actor, entry.step_name, entry.from_status, entry.to_status) == (
        "carol",
        "b",
        "skipped",
        "pending",
    )
    assert (entry.request_id, entry.details) == ("req-7", {"retried": ["a"]})


def test_a_refused_retry_leaves_no_audit_row(session: Session) -> None:
    execution = started_run(session, [step("a"), HOLD])
    drain(session)
    with pytest.raises(ConflictError):
        runs.retry_step(session, execution, "a", actor="carol")
    retries = history.audit_trail(execution=execution, action=AuditAction.RETRY)
    assert session.scalars(retries).all() == []
