"""Approval steps: a person approves or rejects, and the decision is stored.

An approval step that is ready (pending, every dependency finished, its execution
running) waits for ``approve_step`` or ``reject_step``. Who decided is kept in
``completed_by`` and when in ``completed_at``; the comment or reason in the output (an
approval) or the error message (a rejection). With ``configuration:
{require_distinct_approver: true}`` on the step, the person who started the execution
cannot decide it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus, StepType
from agentical.db.errors import ConflictError, InvalidInputError
from agentical.db.models.playbook.step_execution import PERSON_MAX_LENGTH, PlaybookStepExecution
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.observability import event_at_commit

DISTINCT_APPROVER = "require_distinct_approver"


class ApprovalError(ConflictError):
    """The step cannot be decided now, or not by this person."""


def _check(step_run: PlaybookStepExecution, approver: Any, text: Any, name: str) -> str:
    label = f"PlaybookStepExecution '{step_run.step_name}' (id={step_run.id})"
    if not isinstance(approver, str) or not approver.strip():
        raise InvalidInputError(f"{label}: approver must name a person")
    if len(approver) > PERSON_MAX_LENGTH:
        raise InvalidInputError(f"{label}: approver is longer than {PERSON_MAX_LENGTH}")
    if text is not None and not isinstance(text, str):
        raise InvalidInputError(f"{label}: {name} must be a string")
    if step_run.step_type is not StepType.APPROVAL:
        raise ApprovalError(f"{label} is a {step_run.step_type} step, not an approval")
    execution = step_run.execution
    if execution.status != ExecutionStatus.RUNNING:
        raise ApprovalError(f"{label}: its execution is {execution.status}, not running")
    if step_run.status is not StepStatus.PENDING or step_run.unmet_dependencies:
        raise ApprovalError(f"{label} is not waiting for a decision ({step_run.status})")
    configuration = plan_of(execution).step(step_run.step_name).configuration
    starter = execution.started_by or execution.triggered_by
    if configuration.get(DISTINCT_APPROVER) and approver == starter:
        raise ApprovalError(
            f"{label}: '{approver}' started the execution and cannot approve its steps"
        )
    return label


def approve_step(
    session: Session,
    step_run: PlaybookStepExecution,
    approver: str,
    comment: str | None = None,
) -> None:
    """Approve a waiting approval step: it completes, and the run goes on (at the flush,
    which this call does)."""
    _check(step_run, approver, comment, "comment")
    step_run.start_step()
    step_run.complete_step({"approved": True, "approver": approver, "comment": comment})
    _decided(session, step_run, approver, "step.approved")


def reject_step(
    session: Session, step_run: PlaybookStepExecution, approver: str, reason: str
) -> None:
    """Reject a waiting approval step: it fails for good with the reason (no retry), and
    the run follows as for any failure."""
    _check(step_run, approver, reason, "reason")
    if not reason or not reason.strip():
        raise InvalidInputError("reject_step: a reason is required")
    step_run.start_step()
    step_run.fail_step(f"rejected by {approver}: {reason}")
    _decided(session, step_run, approver, "step.rejected")


def _decided(session: Session, step_run: PlaybookStepExecution, approver: str, event: str) -> None:
    """Keep who decided, say so, and flush: the run follows in the same flush."""
    step_run.completed_by = approver
    event_at_commit(
        session,
        event,
        step_execution_id=step_run.id,
        playbook_execution_id=step_run.playbook_execution_id,
        step_name=step_run.step_name,
        approver=approver,
    )
    session.flush()
