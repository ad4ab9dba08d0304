"""Timeouts: a claimed attempt that runs too long fails, and so does a run.

A claimed step run whose step has ``timeout_minutes`` gets a deadline at the claim; past
it, ``enforce_timeouts`` fails the attempt with ``timed out after N min`` (retried when
attempts are left, like any failure) and its holder can no longer finish it. A running
execution gets its playbook's ``timeout_minutes`` (default 60) as a deadline when it
starts; past it, its pending and claimed steps are skipped and it fails with the reason.
Deadlines are judged by the database's clock. The worker calls this between claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, literal, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import begin_read_committed
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.runs import control, row_locks, settlement, steps
from agentical.db.runs.clock import now_sql
from agentical.db.runs.leases import Lease
from agentical.db.runs.plans import plan_by_id
from agentical.db.types import UTCDateTime

BATCH = 100


@dataclass
class TimeoutReport:
    """What ``enforce_timeouts`` changed: step runs (id, name) and executions (id)."""

    steps: list[tuple[int, str]] = field(default_factory=list)
    executions: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.steps or self.executions)


def _now(session: Session, now: datetime | None) -> ColumnElement[datetime]:
    if now is not None:
        return literal(now, UTCDateTime())
    return now_sql(connection_for(session, PlaybookStepExecution))


def enforce_timeouts(session: Session, now: datetime | None = None) -> TimeoutReport:
    """Fail the attempts and executions whose deadline has passed (``now``: the
    database's clock unless given); flushed, not committed."""
    # A new transaction reads at READ COMMITTED: at MariaDB's REPEATABLE READ the locking
    # read of overdue steps locked every step row it passed over, finished ones included,
    # which the end of a run another transaction is finishing reads (a deadlock).
    begin_read_committed(session, PlaybookStepExecution)
    report = TimeoutReport()
    session.flush()
    moment = _now(session, now)
    connection = connection_for(session, PlaybookStepExecution)
    overdue = connection.execute(
        select(PlaybookStepExecution)
        .where(
            PlaybookStepExecution.deadline_at <= moment,
            PlaybookStepExecution.status == StepStatus.RUNNING,
        )
        .order_by(PlaybookStepExecution.id)
        .limit(BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    for row in overdue:
        step = plan_by_id(session, row.playbook_execution_id).step(row.step_name)
        lease = Lease(
            row.id,
            row.playbook_execution_id,
            row.step_name,
            row.playbook_step_id,
            row.attempt,
            row.claimed_by or "",
            row.started_at,
            row.retry_count,
            1.0,
        )
        steps.fail_step(session, lease, f"timed out after {step.timeout_minutes} min")
        report.steps.append((row.id, row.step_name))
    overdue_executions = connection.scalars(
        select(PlaybookExecution.id)
        .where(_overdue(moment))
        .order_by(PlaybookExecution.id)
        .limit(BATCH)
    ).all()
    for execution_id in overdue_executions:
        if _fail_overdue(session, connection, execution_id, moment):
            report.executions.append(execution_id)
    session.flush()
    return report


def _overdue(moment: ColumnElement[datetime]) -> ColumnElement[bool]:
    return and_(
        PlaybookExecution.deadline_at <= moment,
        PlaybookExecution.status == ExecutionStatus.RUNNING,
    )


def _fail_overdue(
    session: Session, connection: Connection, execution_id: int, moment: ColumnElement[datetime]
) -> bool:
    """Skip the steps of a run past its deadline and fail it, unless it ended or paused
    meanwhile. Its unfinished step rows are locked first (``lock_unfinished_runs``), then
    its own row: the order in which a worker finishing a step takes them, so the two wait
    for each other rather than deadlock (and a step finished meanwhile is not skipped)."""
    unfinished = row_locks.lock_unfinished_runs(session, execution_id)
    still_overdue = connection.scalar(
        select(PlaybookExecution.id)
        .where(PlaybookExecution.id == execution_id, _overdue(moment))
        .with_for_update()
    )
    if still_overdue is None:
        return False
    minutes = plan_by_id(session, execution_id).timeout_minutes
    reason = f"execution timed out after {minutes} min"
    control.stop_steps(session, execution_id, reason, unfinished)
    return settlement.finish_execution(session, connection, execution_id, failure=reason)
