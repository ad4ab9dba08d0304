"""Manual and approval steps: people finish them, workers never claim them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import (
    ExecutionStatus,
    InvalidTransitionError,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    StepStatus,
    claim_ready_steps,
    create_execution,
)
from tests.db.runs.builders import by_name, drain, started_run, step


def test_workers_never_claim_manual_or_approval_steps(session: Session) -> None:
    started_run(
        session,
        [
            {"name": "check", "type": "manual"},
            {"name": "sign_off", "type": "approval"},
            step("script"),
            {"name": "call", "type": "webhook"},
        ],
    )
    claimed = claim_ready_steps(session, worker_id="w", limit=10)
    assert sorted(run.step_name for run in claimed) == ["call", "script"]


def test_a_worker_claims_only_the_step_types_it_handles(session: Session) -> None:
    started_run(session, [step("script"), {"name": "call", "type": "webhook"}])
    claimed = claim_ready_steps(session, worker_id="w", limit=10, step_types=["webhook"])
    assert [run.step_name for run in claimed] == ["call"]


@pytest.mark.parametrize(
    ("step_types", "message"),
    [(["manual"], "finished by people"), (["teleport"], "not a step type"), ([], "at least")],
)
def test_step_types_a_worker_cannot_claim_are_refused(
    session: Session, step_types: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        claim_ready_steps(session, worker_id="w", step_types=step_types)


def test_a_person_completes_a_ready_manual_step_by_name(session: Session) -> None:
    execution = started_run(session, [{"name": "check", "type": "manual"}, step("deploy", "check")])
    check = by_name(execution)["check"]
    check.complete_step({"looked": True}, completed_by="alice")
    session.commit()
    assert (check.status, check.completed_by, check.output_data) == (
        StepStatus.COMPLETED,
        "alice",
        {"looked": True},
    )
    assert drain(session) == [["deploy"]]
    session.refresh(execution)
    assert execution.status is ExecutionStatus.COMPLETED


def test_a_manual_step_waiting_for_its_dependencies_cannot_be_completed(
    session: Session,
) -> None:
    execution = started_run(
        session, [step("prepare"), {"name": "check", "type": "manual", "depends_on": ["prepare"]}]
    )
    check = by_name(execution)["check"]
    with pytest.raises(InvalidTransitionError, match="dependencies not finished"):
        check.complete_step({}, completed_by="alice")
    assert check.status is StepStatus.PENDING


@pytest.mark.parametrize("moment", ["before the start", "while paused", "after the end"])
def test_a_manual_step_of_an_execution_that_is_not_running_cannot_be_completed(
    session: Session, moment: str
) -> None:
    definition = {
        "name": f"Manual check {moment}",
        "category": "testing",
        "steps": [{"name": "check", "type": "manual"}, step("b")],
    }
    execution = create_execution(session, Playbook.import_definition(session, definition))
    if moment != "before the start":
        runs.start_execution(session, execution)
    if moment == "while paused":
        runs.pause_execution(session, execution)
    if moment == "after the end":
        execution.complete_execution(overall_success=False, error_message="given up")
    session.commit()
    status = execution.status
    check = by_name(execution)["check"]
    with pytest.raises(InvalidTransitionError, match=f"its execution is {status}, not running"):
        check.complete_step({}, completed_by="alice")
    session.commit()
    session.refresh(execution)
    assert (check.status, check.completed_by) == (StepStatus.PENDING, None)
    assert (execution.status, execution.completed_steps) == (status, 0)


def approval_run(
    session: Session, **configuration: bool
) -> tuple[PlaybookExecution, PlaybookStepExecution]:
    execution = started_run(
        session,
        [
            step("build"),
            {
                "name": "sign_off",
                "type": "approval",
                "depends_on": ["build"],
                "configuration": configuration,
            },
            step("release", "sign_off"),
        ],
    )
    drain(session)
    return execution, by_name(execution)["sign_off"]


def test_an_approval_waits_for_a_decision_and_stores_who_and_when(session: Session) -> None:
    _execution, sign_off = approval_run(session)
    runs.approve_step(session, sign_off, "bob", comment="looks good")
    session.commit()
    assert (sign_off.status, sign_off.completed_by) == (StepStatus.COMPLETED, "bob")
    assert sign_off.completed_at is not None
    assert sign_off.output_data == {"approved": True, "approver": "bob", "comment": "looks good"}
    assert drain(session) == [["release"]]


def test_a_rejection_fails_the_step_with_the_reason_and_the_run(session: Session) -> None:
    execution, sign_off = approval_run(session)
    runs.reject_step(session, sign_off, "bob", "not on a Friday")
    session.commit()
    assert (sign_off.status, sign_off.error_message) == (
        StepStatus.FAILED,
        "rejected by bob: not on a Friday",
    )
    session.refresh(execution)
    assert execution.status is ExecutionStatus.FAILED
    assert by_name(execution)["release"].status is StepStatus.SKIPPED


def test_a_distinct_approver_is_required_when_the_step_says_so(session: Session) -> None:
    _execution, sign_off = approval_run(session, require_distinct_approver=True)
    with pytest.raises(runs.ApprovalError, match="started the execution"):
        runs.approve_step(session, sign_off, "starter")
    assert sign_off.status is StepStatus.PENDING
    runs.approve_step(session, sign_off, "someone else")
    assert sign_off.completed_by == "someone else"


def test_an_approval_not_waiting_for_a_decision_is_refused(session: Session) -> None:
    execution = started_run(
        session, [step("build"), {"name": "sign_off", "type": "approval", "depends_on": ["build"]}]
    )
    with pytest.raises(runs.ApprovalError, match="not waiting"):
        runs.approve_step(session, by_name(execution)["sign_off"], "bob")
    with pytest.raises(runs.ApprovalError, match="not an approval"):
        runs.approve_step(session, by_name(execution)["build"], "bob")


def test_a_rejection_is_final_even_with_retries_on_the_step(session: Session) -> None:
    execution = started_run(
        session, [{"name": "sign_off", "type": "approval", "retry_attempts": 3}]
    )
    sign_off = by_name(execution)["sign_off"]
    runs.reject_step(session, sign_off, "bob", "no")
    session.commit()
    assert (sign_off.status, sign_off.retry_count) == (StepStatus.FAILED, 0)
    session.refresh(execution)
    assert execution.status is ExecutionStatus.FAILED
