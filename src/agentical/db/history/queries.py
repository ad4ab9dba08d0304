"""The documented history queries (see ``agentical.db.history`` for their indexes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook import (
    PlaybookExecution,
    PlaybookStepExecution,
)


def executions_by_status(
    playbook_id: int, status: ExecutionStatus | None = None
) -> Select[PlaybookExecution]:
    """Executions of one playbook (optionally in one status), newest first."""
    statement = select(PlaybookExecution).where(PlaybookExecution.playbook_id == playbook_id)
    if status is not None:
        statement = statement.where(PlaybookExecution.status == status)
    return statement.order_by(PlaybookExecution.created_at.desc(), PlaybookExecution.id.desc())


def recent_executions(status: ExecutionStatus | None = None) -> Select[PlaybookExecution]:
    """Executions of every playbook (optionally in one status), newest first: what a list
    of recent runs pages through (``page_of``)."""
    statement = select(PlaybookExecution)
    if status is not None:
        statement = statement.where(PlaybookExecution.status == status)
    return statement.order_by(PlaybookExecution.created_at.desc(), PlaybookExecution.id.desc())


def failed_executions(
    since: datetime, until: datetime, *, playbook_id: int | None = None
) -> Select[PlaybookExecution]:
    """Failed executions created in ``[since, until)``, newest first, across playbooks or
    for one."""
    statement = select(PlaybookExecution).where(
        PlaybookExecution.status == ExecutionStatus.FAILED,
        PlaybookExecution.created_at >= since,
        PlaybookExecution.created_at < until,
    )
    if playbook_id is not None:
        statement = statement.where(PlaybookExecution.playbook_id == playbook_id)
    return statement.order_by(PlaybookExecution.created_at.desc(), PlaybookExecution.id.desc())


def running_executions() -> Select[PlaybookExecution]:
    """Executions running now, across every playbook, oldest first (the likeliest stuck)."""
    return (
        select(PlaybookExecution)
        .where(PlaybookExecution.status == ExecutionStatus.RUNNING)
        .order_by(PlaybookExecution.created_at, PlaybookExecution.id)
    )


def step_executions_in_order(execution_id: int) -> Select[PlaybookStepExecution]:
    """The step executions of one execution (its integer ``id``), in step order."""
    return (
        select(PlaybookStepExecution)
        .where(PlaybookStepExecution.playbook_execution_id == execution_id)
        .order_by(PlaybookStepExecution.step_order, PlaybookStepExecution.id)
    )


def most_failing_steps(
    playbook_id: int, *, limit: int = 10, since: datetime | None = None
) -> Select[str, int]:
    """``(step_name, failures)`` rows: the steps of a playbook that failed most, most first.

    Grouped by the step name each step execution keeps, so runs of a step deleted since
    still count. ``since`` keeps only executions created from then on.
    """
    failures = func.count(PlaybookStepExecution.id).label("failures")
    statement = (
        select(PlaybookStepExecution.step_name, failures)
        .join(PlaybookStepExecution.execution)
        .where(
            PlaybookExecution.playbook_id == playbook_id,
            PlaybookStepExecution.status == StepStatus.FAILED,
        )
    )
    if since is not None:
        statement = statement.where(PlaybookExecution.created_at >= since)
    return (
        statement.group_by(PlaybookStepExecution.step_name)
        .order_by(failures.desc(), PlaybookStepExecution.step_name)
        .limit(limit)
    )
