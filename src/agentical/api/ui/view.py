"""What a run page shows of one execution, as a JSON-ready model the page also polls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from agentical.db.audit import AuditAction
from agentical.db.enums import ExecutionStatus, StepStatus, StepType
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import PlaybookExecution, PlaybookStepExecution
from agentical.db.types import utc_now

FINISHED = {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}


class StepView(BaseModel):
    name: str
    step_type: StepType
    status: StepStatus
    waiting: bool
    """Ready and waiting for a person: an approval to decide, a manual step to complete."""
    timing: str
    by: str | None
    error: str | None


class TrailEntryView(BaseModel):
    """One audit entry of the run, as the page's trail panel shows it."""

    when: str
    actor: str
    action: AuditAction
    step: str | None
    change: str
    reason: str | None


class RunView(BaseModel):
    execution_id: str
    playbook: str
    version: int | None
    status: ExecutionStatus
    finished: bool
    progress: float
    started_at: datetime | None
    timing: str
    steps: list[StepView]
    trail: list[TrailEntryView]
    """The run's newest audit entries, newest first (who started, decided, paused it)."""


def seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(value), 60)
    return (
        f"{minutes} min {rest:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _since(started_at: datetime | None, now: datetime) -> str:
    return "" if started_at is None else f"for {seconds((now - started_at).total_seconds())}"


def step_timing(run: PlaybookStepExecution, now: datetime) -> str:
    if run.status is StepStatus.RUNNING:
        return _since(run.started_at, now)
    if run.duration_seconds is not None:
        return seconds(run.duration_seconds)
    return ""


def trail_entry_view(entry: AuditEntry) -> TrailEntryView:
    change = "" if entry.to_status is None else f"{entry.from_status or '-'} → {entry.to_status}"
    return TrailEntryView(
        when=f"{entry.created_at:%H:%M:%S}",
        actor=entry.actor,
        action=entry.action,
        step=entry.step_name,
        change=change,
        reason=entry.reason,
    )


def run_view(execution: PlaybookExecution, trail: Sequence[AuditEntry] = ()) -> RunView:
    """From an execution loaded with ``select_execution_detail()`` (no further query) and
    its newest audit entries."""
    now = utc_now()
    waiting = {run.id for run in execution.ready_steps() if run.step_type in _PEOPLE_STEPS}
    finished = execution.status in FINISHED
    if finished and execution.duration_seconds is not None:
        timing = seconds(execution.duration_seconds)
    else:
        timing = _since(execution.started_at, now)
    playbook = execution.playbook
    return RunView(
        execution_id=execution.execution_id,
        playbook=playbook.name if playbook is not None else "(deleted playbook)",
        version=playbook.version if playbook is not None else None,
        status=execution.status,
        finished=finished,
        progress=execution.progress_percentage or 0.0,
        started_at=execution.started_at,
        timing=timing,
        steps=[
            StepView(
                name=run.step_name or "",
                step_type=run.step_type,
                status=run.status,
                waiting=run.id in waiting,
                timing=step_timing(run, now),
                by=run.completed_by,
                error=run.error_message,
            )
            for run in execution.step_executions
        ],
        trail=[trail_entry_view(entry) for entry in trail],
    )


_PEOPLE_STEPS = {StepType.APPROVAL, StepType.MANUAL}
