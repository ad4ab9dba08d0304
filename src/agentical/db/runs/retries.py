"""An operator's retry: a step that failed for good runs again, in a run that has not ended.

A required step that failed for good skipped everything downstream of it; a retry takes
that back. The failed step is pending again with one more retry counted (due now for a
worker; a person finishes a manual one), and the steps its failure skipped are pending
again, waiting for it, unless another failed step still blocks them. The execution's
counts, progress and ``failed_required_step`` are corrected, and the run goes on and ends
itself as usual. Retrying a skipped step retries the failed steps that block it.

Refused (``RetryError``, a ``ConflictError``, and nothing changes): an execution that has
ended (completed, failed and cancelled are final) or not started; a step that is not
failed or skipped by a failure; a rejected approval (a rejection is a decision, not an
error); a step whose condition could not be evaluated (it would read the same values
again); an optional step whose dependants are running without it. An unknown step is a
``NotFoundError``.

The step rows are locked for writing (``row_locks.lock_run_rows``), then the execution
row, in the order a worker settling a step takes them, so the run cannot end between the
check and the writes; the step rows are then written by one UPDATE each, guarded by the
state that was checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus, StepType
from agentical.db.errors import ConflictError, InvalidInputError, NotFoundError
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import begin_read_committed
from agentical.db.models.playbook.step_counts import progress
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import event_at_commit
from agentical.db.plan import PERSON_STEP_TYPES, Plan
from agentical.db.runs import row_locks, settlement, trail
from agentical.db.runs.clock import now_sql
from agentical.db.runs.plans import plan_by_id
from agentical.db.runs.wakeup import announce_ready
from agentical.db.scheduling import blocked_steps, finished_steps
from agentical.db.types import utc_now

RETRYABLE_EXECUTION_STATUSES = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)


class RetryError(ConflictError):
    """The step cannot be retried now: the message says why."""


@dataclass(frozen=True, slots=True)
class _Row:
    status: StepStatus
    step_type: StepType
    completed_by: str | None
    started_at: Any


def retry_step(
    session: Session, execution: PlaybookExecution, step_name: str, *, actor: str | None = None
) -> list[str]:
    """Run ``step_name`` of ``execution`` again; the steps that are pending again, in run
    order (the retried ones first of their chain). Flushed, not committed. The audit trail
    gets a ``retry`` row by ``actor`` (else the ``acting_as`` context's, else ``system``).

    Raises ``RetryError`` (a ``ConflictError``) with the reason when the step cannot be
    retried, ``NotFoundError`` for a step the run does not have; either way nothing
    changed.
    """
    if not isinstance(step_name, str) or not step_name.strip():
        raise InvalidInputError("retry_step: step_name must name a step")
    begin_read_committed(session, PlaybookExecution)
    session.flush()
    connection = connection_for(session, PlaybookStepExecution)
    label = f"PlaybookExecution {execution.execution_id}"
    # The step runs first, then the execution row: the order in which a worker settling a
    # step takes them (its run's row, then the execution's), so that it waits for us, or we
    # for it, rather than deadlocking; the unfinished ones before the others (``row_locks``)
    # and all for writing, so that a second retry waits at the first row instead of holding
    # a share lock we need to let go. Locked, a step a worker was finishing reads finished:
    # a plain read would see it running, and reopen a step as waiting for it after the
    # worker's settlement has passed it by.
    row_locks.lock_run_rows(session, execution.id)
    rows = _rows(connection, execution.id)
    figures = _lock_execution(connection, execution.id)
    status = figures.status
    if status not in RETRYABLE_EXECUTION_STATUSES:
        raise RetryError(
            f"{label} is {status}: only a running or paused run retries steps"
            + (" (an ended run is final)" if status != ExecutionStatus.PENDING else "")
        )
    plan = plan_by_id(session, execution.id)
    if step_name not in plan.steps:
        raise NotFoundError(f"{label} has no step '{step_name}'")
    roots = _roots(plan, rows, step_name, label)
    reopened = _reopened(plan, rows, roots)
    _write(session, connection, figures, plan, rows, roots, reopened)
    retried = [name for name in plan.steps if name in roots]
    trail.record_retry(session, execution, step_name, rows[step_name].status, retried, actor)
    event_at_commit(
        session,
        "step.retried",
        playbook_execution_id=execution.id,
        step_name=step_name,
        retried=sorted(roots),
        reopened=len(reopened),
    )
    return reopened


def _lock_execution(connection: Connection, execution_id: int) -> Any:
    """The execution's id, status and step counts, its row locked until the commit."""
    columns = table_of(PlaybookExecution).c
    return connection.execute(
        select(
            columns.id,
            columns.status,
            columns.total_steps,
            columns.completed_steps,
            columns.failed_steps,
            columns.skipped_steps,
        )
        .where(columns.id == execution_id)
        .with_for_update()
    ).one()


def _rows(connection: Connection, execution_id: int) -> dict[str, _Row]:
    """The step runs' states, by a locking read: the rows are locked already, and a locking
    read gives their latest states (at MariaDB's REPEATABLE READ a plain read would give
    them as of the transaction's first read)."""
    columns = table_of(PlaybookStepExecution).c
    statement = select(
        columns.step_name,
        columns.status,
        columns.step_type,
        columns.completed_by,
        columns.started_at,
    ).where(columns.playbook_execution_id == execution_id)
    result = connection.execute(statement.with_for_update(read=True))
    return {
        row.step_name: _Row(
            StepStatus(row.status), StepType(row.step_type), row.completed_by, row.started_at
        )
        for row in result
    }


def _roots(plan: Plan, rows: Mapping[str, _Row], step_name: str, label: str) -> set[str]:
    """The failed steps to run again for a retry of ``step_name``."""
    row = rows[step_name]
    subject = f"{label}: step '{step_name}'"
    if row.status is StepStatus.FAILED:
        roots = {step_name}
    elif row.status is StepStatus.SKIPPED:
        optional = {name: step.optional for name, step in plan.steps.items()}
        states = {name: run.status for name, run in rows.items()}
        if not blocked_steps(
            plan.dependency_graph, {**states, step_name: StepStatus.PENDING}, optional
        ):
            raise RetryError(f"{subject} was skipped, not blocked by a failed step")
        roots = {
            name
            for name in plan.steps
            if step_name in plan.downstream_of(name)
            and rows[name].status is StepStatus.FAILED
            and not plan.step(name).optional
        }
    else:
        raise RetryError(f"{subject} is {row.status}: only a failed or skipped step is retried")
    for name in roots:
        _check_root(plan, rows, name, f"{label}: step '{name}'")
    return roots


def _check_root(plan: Plan, rows: Mapping[str, _Row], name: str, subject: str) -> None:
    row, step = rows[name], plan.step(name)
    if row.step_type is StepType.APPROVAL and row.completed_by is not None:
        raise RetryError(f"{subject} was rejected by {row.completed_by}: a rejection is final")
    if step.condition and row.started_at is None:
        raise RetryError(
            f"{subject} failed evaluating its condition, which would read the same values again"
        )
    if step.optional:
        running = [
            dependant
            for dependant in plan.dependants_of(name)
            if rows[dependant].status is StepStatus.RUNNING
        ]
        if running:
            raise RetryError(f"{subject} is optional and '{running[0]}' already runs without it")


def _reopened(plan: Plan, rows: Mapping[str, _Row], roots: set[str]) -> list[str]:
    """The roots and the steps their failures skipped that no other failure still blocks."""
    states = {name: run.status for name, run in rows.items()}
    downstream = {
        name
        for root in roots
        if not plan.step(root).optional
        for name in plan.downstream_of(root)
        if states[name] is StepStatus.SKIPPED
    }
    after = {**states, **dict.fromkeys(roots | downstream, StepStatus.PENDING)}
    optional = {name: step.optional for name, step in plan.steps.items()}
    still_blocked = blocked_steps(plan.dependency_graph, after, optional)
    chosen = roots | (downstream - still_blocked.keys())
    return [name for name in plan.steps if name in chosen]


def _write(
    session: Session,
    connection: Connection,
    figures: Any,
    plan: Plan,
    rows: Mapping[str, _Row],
    roots: set[str],
    reopened: list[str],
) -> None:
    execution_id = figures.id
    states = {name: run.status for name, run in rows.items()}
    after = {**states, **dict.fromkeys(reopened, StepStatus.PENDING)}
    optional = {name: step.optional for name, step in plan.steps.items()}
    finished = finished_steps(after, optional)
    for name in sorted(roots):
        _reopen(session, connection, execution_id, [name], unmet=None, root=rows[name])
    by_unmet: dict[int, list[str]] = {}
    for name in reopened:
        if name not in roots:
            unmet = sum(dependency not in finished for dependency in plan.step(name).depends_on)
            by_unmet.setdefault(unmet, []).append(name)
    for unmet, names in sorted(by_unmet.items()):
        _reopen(session, connection, execution_id, names, unmet=unmet, root=None)
    _hold_back(session, connection, execution_id, plan, roots)
    _correct_execution(session, connection, figures, plan, after, states, reopened)
    if any(plan.step(name).for_workers for name in roots):
        announce_ready(connection)


def _reopen(
    session: Session,
    connection: Connection,
    execution_id: int,
    names: Iterable[str],
    *,
    unmet: int | None,
    root: _Row | None,
) -> None:
    """Make ``names`` pending again: a root keeps its error and counts one more retry,
    and a worker may take it now; a step it skipped waits for ``unmet`` dependencies."""
    names = list(names)
    columns = table_of(PlaybookStepExecution).c
    values: dict[str, Any] = {
        "status": StepStatus.PENDING,
        "started_at": None,
        "completed_at": None,
        "execution_time_seconds": None,
        "completed_by": None,
        "next_attempt_at": None,
        "lease_expires_at": None,
        "deadline_at": None,
        "claim_due_at": None,
        "row_version": columns.row_version + 1,
        "updated_at": utc_now(),
    }
    expected = StepStatus.SKIPPED
    if root is not None:
        expected = root.status
        values["retry_count"] = columns.retry_count + 1
        if root.step_type not in PERSON_STEP_TYPES:
            values["claim_due_at"] = now_sql(connection)
    else:
        values["error_message"] = None
        values["unmet_dependencies"] = unmet
    result = connection.execute(
        update(table_of(PlaybookStepExecution))
        .where(
            columns.playbook_execution_id == execution_id,
            columns.step_name.in_(names),
            columns.status == expected,
        )
        .values(values)
    )
    if result.rowcount != len(names):
        raise RetryError(f"steps {', '.join(names)} changed meanwhile: reload and retry again")
    loaded = settlement.loaded_runs(session, execution_id)
    for name in names:
        run = loaded.get(name)
        if run is not None:
            session.expire(run)


def _hold_back(
    session: Session, connection: Connection, execution_id: int, plan: Plan, roots: set[str]
) -> None:
    """An optional step's failure released its dependants: they wait for it again."""
    dependants = sorted(
        {
            dependant
            for root in roots
            if plan.step(root).optional
            for dependant in plan.dependants_of(root)
        }
    )
    if not dependants:
        return
    columns = table_of(PlaybookStepExecution).c
    statement = update(table_of(PlaybookStepExecution)).where(
        columns.playbook_execution_id == execution_id, columns.step_name.in_(dependants)
    )
    connection.execute(statement.values(unmet_dependencies=columns.unmet_dependencies + 1))
    connection.execute(
        statement.where(columns.status == StepStatus.PENDING).values(claim_due_at=None)
    )
    loaded = settlement.loaded_runs(session, execution_id)
    for name in dependants:
        run = loaded.get(name)
        if run is not None:
            session.expire(run, ["unmet_dependencies", "claim_due_at"])


def _correct_execution(
    session: Session,
    connection: Connection,
    row: Any,
    plan: Plan,
    after: Mapping[str, StepStatus],
    before: Mapping[str, StepStatus],
    reopened: list[str],
) -> None:
    """Take the reopened steps off the counts (``row``: as locked) and name the failure
    that is left, if any."""
    failed = sum(before[name] is StepStatus.FAILED for name in reopened)
    skipped = len(reopened) - failed
    still_failed = next(
        (
            name
            for name in plan.steps
            if after.get(name) is StepStatus.FAILED and not plan.step(name).optional
        ),
        None,
    )
    figures: dict[str, Any] = {
        "failed_steps": row.failed_steps - failed,
        "skipped_steps": row.skipped_steps - skipped,
        "failed_required_step": still_failed,
    }
    done = row.completed_steps + figures["failed_steps"] + figures["skipped_steps"]
    if row.total_steps:
        figures["progress_percentage"] = progress(done, row.total_steps)
    table = table_of(PlaybookExecution)
    connection.execute(
        update(table).where(table.c.id == row.id).values(**figures, updated_at=utc_now())
    )
    loaded = settlement.loaded_execution(session, row.id)
    if loaded is not None:
        settlement.show(loaded, **figures)
