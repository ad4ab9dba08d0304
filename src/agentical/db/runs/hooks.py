"""The one session listener of the run engine: model methods follow the same rules.

The models' lifecycle methods (``step_run.complete_step()``, ``execution.start_execution()``,
``execution.cancel_execution()``...) change objects in memory and do no I/O. When such a
change is flushed, this listener gives it the meaning the run functions give theirs,
through the same code:

- a new execution gets its snapshot (if it has none; stored once per content hash) and
  its number of steps; a new step run its type, its unfinished dependencies and, when
  ready, its due time, from the plan;
- a step run that finished is settled (``settlement``); one that failed with attempts
  left becomes pending again, due after the step's retry delay; one this process claimed
  is fenced (``LeaseLostError`` if the lease was lost);
- an execution that starts takes a slot under the playbook's limit
  (``ConcurrencyLimitError`` from the flush) and gets its deadline; one that is
  cancelled stops its steps; one that ends adds its step runs to the steps' metrics;
- each transition of an execution or a playbook, and each decision of a person on a
  step, gets its row in the audit trail (``trail``).

It acts only on this package's models, and runs before the session's other deferred
writes (``insert=True``), so what it queues is written in the same flush.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, inspect, update
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.snapshot import stored_snapshot
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.step_counts import progress
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.step_plan import ensure_snapshot, plan_of
from agentical.db.plan import PERSON_STEP_TYPES, Plan
from agentical.db.runs import control, row_locks, settlement, step_metrics, trail
from agentical.db.runs.claims import write_queued_claims
from agentical.db.runs.clock import database_now
from agentical.db.runs.leases import held_lease, lost
from agentical.db.runs.plans import plan_by_id
from agentical.db.types import utc_now

FINISHED = frozenset({StepStatus.COMPLETED, StepStatus.SKIPPED})
ENDED = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED})


def _status_change(instance: Any) -> tuple[Any, Any] | None:
    """``(previous, new)`` status when ``instance``'s status changed in this flush."""
    history = inspect(instance).attrs.status.history
    if not history.added:
        return None
    previous = history.deleted[0] if history.deleted else None
    return previous, history.added[-1]


def _plan_new_execution(session: Session, execution: PlaybookExecution) -> None:
    if execution.playbook_id is None and execution.__dict__.get("playbook") is None:
        return  # incomplete: the flush reports it
    ensure_snapshot(execution)
    _store_snapshot(session, execution)
    if not execution.total_steps:
        execution.total_steps = len(plan_of(execution))


def _store_snapshot(session: Session, execution: PlaybookExecution) -> None:
    """A snapshot made in memory becomes the stored one of its content hash."""
    snapshot = execution.__dict__.get("snapshot")
    if snapshot is not None and inspect(snapshot).transient:
        execution.snapshot = stored_snapshot(session, snapshot.document, snapshot.content_hash)


def _plan_new_run(session: Session, run: PlaybookStepExecution) -> None:
    """Type, unfinished dependencies and due time of a run added object by object."""
    execution = run.__dict__.get("execution")
    if execution is None and run.playbook_execution_id is not None:
        execution = session.get(PlaybookExecution, run.playbook_execution_id)
    if run.step_name is None and run.playbook_step_id is not None:  # built from ids
        step_row = session.get(PlaybookStep, run.playbook_step_id)
        run.step_name = None if step_row is None else step_row.step_name
    if run.step_type is not None or execution is None or run.step_name is None:
        return
    plan = plan_of(execution)
    step = plan.steps.get(run.step_name)
    if step is None:
        return
    siblings = {
        sibling.step_name: sibling.status
        for sibling in execution.__dict__.get("step_executions", ())
    }
    run.step_type = step.step_type
    run.unmet_dependencies = sum(
        1 for name in step.depends_on if siblings.get(name) not in FINISHED
    )
    ready = run.status is StepStatus.PENDING and not run.unmet_dependencies
    if ready and step.for_workers and not step.condition:
        run.claim_due_at = utc_now()


def _step_changed(session: Session, run: PlaybookStepExecution, change: tuple[Any, Any]) -> None:
    previous, status = change
    plan = plan_by_id(session, run.playbook_execution_id)
    if previous is StepStatus.PENDING and status is not StepStatus.SKIPPED:
        run.claim_due_at = None  # started by hand: no worker takes it
        settlement.queue(session, run.playbook_execution_id, plan, run.step_name, None)
    if status not in row_locks.FINISHED_STEP_STATUSES:
        return
    if previous is StepStatus.RUNNING:
        _check_fence(session, run)
    if run.step_type in PERSON_STEP_TYPES:
        trail.record_person_step(session, run, previous, status)
    run.claim_due_at = None
    run.lease_expires_at = None
    run.deadline_at = None
    if status is StepStatus.FAILED and _retry(session, run, plan):
        return
    settlement.queue(session, run.playbook_execution_id, plan, run.step_name, status)


def _check_fence(session: Session, run: PlaybookStepExecution) -> None:
    """A run claimed through this process is finished by hand only while the claim holds."""
    lease = held_lease(run)
    if lease is None:
        return
    write_queued_claims(session, flushing=True)  # MariaDB: a claim of this transaction
    table = table_of(PlaybookStepExecution)
    result = connection_for(session, PlaybookStepExecution).execute(
        update(table)
        .where(
            table.c.id == lease.step_run_id,
            table.c.attempt == lease.token,
            table.c.status == StepStatus.RUNNING,
        )
        .values(attempt=table.c.attempt)
    )
    if result.rowcount != 1:
        lost(lease)


def _retry(session: Session, run: PlaybookStepExecution, plan: Plan) -> bool:
    """A failed attempt with attempts left becomes a pending retry (not counted); a
    person's step (a rejection, say) is decided once."""
    step = plan.steps.get(run.step_name)
    if step is None or not step.for_workers or (run.retry_count or 0) >= step.retry_attempts:
        return False
    due = utc_now() + timedelta(seconds=step.retry_delay_seconds)
    run.status = StepStatus.PENDING
    run.retry_count = (run.retry_count or 0) + 1
    run.next_attempt_at = due
    run.claim_due_at = due if step.for_workers else None
    run.started_at = None
    execution = settlement.loaded_execution(session, run.playbook_execution_id)
    if execution is not None:  # the failure counted in memory is given back
        failed = max((execution.failed_steps or 0) - 1, 0)
        done = (execution.completed_steps or 0) + failed + (execution.skipped_steps or 0)
        total = execution.total_steps or len(plan)
        settlement.show(
            execution,
            failed_steps=failed,
            progress_percentage=progress(done, total) if total else 0.0,
        )
    return True


def _execution_changed(
    session: Session, execution: PlaybookExecution, change: tuple[Any, Any]
) -> None:
    previous, status = change
    if status is ExecutionStatus.RUNNING and previous in (None, ExecutionStatus.PENDING):
        control.check_slot(session, execution)
        plan = plan_of(execution)
        settlement.queue_start(session, execution, plan)
        timeout = plan.timeout_minutes
        if timeout is not None:
            connection = connection_for(session, PlaybookExecution)
            execution.deadline_at = database_now(connection) + timedelta(minutes=timeout)
    elif status is ExecutionStatus.RUNNING and execution.id is not None:
        settlement.queue_start(session, execution, plan_of(execution), resumed=True)
    elif status is ExecutionStatus.CANCELLED and execution.id is not None:
        control.stop_steps(session, execution.id, "execution cancelled")
        row_locks.lock_execution_row(session, execution.id)
        execution.deadline_at = None
        step_metrics.add_step_metrics(session, execution.id)
    elif status in ENDED and execution.id is not None:  # by hand: in a cancel's order
        row_locks.lock_unfinished_runs(session, execution.id)
        row_locks.lock_execution_row(session, execution.id)
        execution.deadline_at = None
        step_metrics.add_step_metrics(session, execution.id)


@event.listens_for(Session, "before_flush", insert=True)
def _follow_the_rules(session: Session, _context: Any, _instances: Any) -> None:
    for instance in list(session.new):
        if isinstance(instance, PlaybookExecution):
            _plan_new_execution(session, instance)
            change = _status_change(instance)
            if change is not None and change[1] is ExecutionStatus.RUNNING:
                _execution_changed(session, instance, change)
            trail.record_execution_changes(session, instance)
    for instance in list(session.new):
        if isinstance(instance, PlaybookStepExecution):
            _plan_new_run(session, instance)
    for instance in list(session.dirty):
        if isinstance(instance, PlaybookExecution):
            _store_snapshot(session, instance)  # a run made before snapshots, planned now
        if isinstance(instance, PlaybookExecution | PlaybookStepExecution | Playbook):
            change = _status_change(instance)
            if isinstance(instance, PlaybookExecution):
                if change is not None:
                    _execution_changed(session, instance, change)
                trail.record_execution_changes(session, instance)
            elif change is None:
                continue
            elif isinstance(instance, PlaybookStepExecution):
                _step_changed(session, instance, change)
            else:
                trail.record_playbook_change(session, instance, *change)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous: Any) -> None:
    control.forget_checks(session)


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    control.forget_checks(session)
