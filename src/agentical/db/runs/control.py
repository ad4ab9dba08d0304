"""Starting, pausing, resuming and cancelling executions, under the playbook's limit.

``max_concurrent_executions`` (default 1) counts the running and paused executions of a
playbook. The count and the start are decided under a lock on the playbook row, taken
before anything else touches it in the transaction (so racing starters queue instead of
deadlocking on MariaDB) and held until commit:

- PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` (inserting executions that point at the
  playbook still goes on); the count sees every start committed before the lock.
- MariaDB: ``SELECT ... FOR UPDATE``, and the count is a locking read, which sees the
  latest committed rows even under REPEATABLE READ.
- SQLite: the database's single write lock.

The same check runs for ``execution.start_execution()`` at the flush (see ``hooks``), so
no path starts more runs than the limit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from agentical.db.audit import acting, one_actor
from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.errors import ConcurrencyLimitError
from agentical.db.lifecycle import EXECUTION_TRANSITIONS, check_transition
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import (
    begin_read_committed,
    is_mysql_family,
    take_sqlite_write_lock,
)
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import event_at_commit
from agentical.db.runs import row_locks, settlement
from agentical.db.types import utc_now

# A paused execution holds its slot: resuming it must never exceed the limit.
SLOT_HOLDING_STATUSES = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
_CHECKED = "agentical.slots_checked"


def lock_playbooks(session: Session, playbook_ids: list[int]) -> None:
    """Lock playbook rows, in id order, before the transaction touches them otherwise."""
    if not playbook_ids:
        return
    take_sqlite_write_lock(session, Playbook)
    connection_for(session, Playbook).execute(
        select(Playbook.id)
        .where(Playbook.id.in_(sorted(set(playbook_ids))))
        .order_by(Playbook.id)
        .with_for_update(key_share=True)
    )


def count_active_executions(session: Session, playbook_id: int) -> int:
    """Executions of ``playbook_id`` that hold a slot (running or paused), as committed."""
    statement = (
        select(func.count())
        .select_from(PlaybookExecution)
        .where(
            PlaybookExecution.playbook_id == playbook_id,
            PlaybookExecution.status.in_(SLOT_HOLDING_STATUSES),
        )
    )
    if is_mysql_family(session, PlaybookExecution):
        statement = statement.with_for_update(read=True)
    return int(connection_for(session, PlaybookExecution).scalar(statement) or 0)


def check_slot(session: Session, execution: PlaybookExecution) -> None:
    """Raise ``ConcurrencyLimitError`` unless ``execution``'s playbook has a free slot;
    the playbook row stays locked until the transaction ends. Once per execution and
    transaction."""
    checked: set[int] = session.info.setdefault(_CHECKED, set())
    if id(execution) in checked:
        return
    begin_read_committed(session, Playbook)
    lock_playbooks(session, [execution.playbook_id])
    limit = connection_for(session, Playbook).scalar(
        select(Playbook.max_concurrent_executions).where(Playbook.id == execution.playbook_id)
    )
    active = count_active_executions(session, execution.playbook_id)
    if limit is not None and active >= limit:
        raise ConcurrencyLimitError(execution.playbook_id, limit, active)
    checked.add(id(execution))


def forget_checks(session: Session) -> None:
    session.info.pop(_CHECKED, None)


def start_execution(
    session: Session,
    execution: PlaybookExecution,
    input_variables: dict[str, Any] | None = None,
    *,
    started_by: str | None = None,
    actor: str | None = None,
) -> PlaybookExecution:
    """Start ``execution`` (pending -> running) if its playbook has a free slot.

    ``actor`` (or ``started_by``, the same person: ``InvalidInputError`` if they differ),
    else the ``acting_as`` context, is kept as ``started_by`` and in the audit trail.
    Raises ``ConcurrencyLimitError`` (and changes nothing) when the playbook already has
    ``max_concurrent_executions`` running or paused, ``InvalidTransitionError`` when the
    execution is not pending. The playbook row stays locked until the caller commits or
    rolls back: commit promptly.
    """
    started_by = one_actor(actor, started_by, "started_by")
    label = f"PlaybookExecution {execution.execution_id}"
    check_transition(label, EXECUTION_TRANSITIONS, execution.status, ExecutionStatus.RUNNING)
    session.add(execution)
    if execution.id is None:
        lock_playbooks(session, [execution.playbook_id or execution.playbook.id])
        session.flush()
    check_slot(session, execution)
    execution.start_execution(input_variables, started_by=started_by)
    session.flush()
    return execution


def pause_execution(
    session: Session, execution: PlaybookExecution, *, actor: str | None = None
) -> None:
    """Running -> paused: no step of it is claimed until it resumes (claimed ones may
    still finish). ``actor`` (else the context's) is recorded in the audit trail."""
    with acting(actor):
        execution.pause_execution()
    session.flush()


def resume_execution(
    session: Session, execution: PlaybookExecution, *, actor: str | None = None
) -> None:
    """Paused -> running; an execution whose last steps finished while it was paused
    finishes now. ``actor`` as for ``pause_execution``."""
    with acting(actor):
        execution.resume_execution()
    session.flush()


def cancel_execution(
    session: Session,
    execution: PlaybookExecution,
    reason: str | None = None,
    *,
    actor: str | None = None,
) -> None:
    """Cancel: pending and claimed step runs are skipped, and a claimed one's holder can
    no longer finish it (``LeaseLostError``): nothing is counted after the cancel.
    ``actor`` as for ``pause_execution``; the reason goes to the audit trail too."""
    with acting(actor):
        execution.cancel_execution(reason)
    session.flush()


def stop_steps(
    session: Session, execution_id: int, reason: str, unfinished: list[int] | None = None
) -> int:
    """Skip every pending or claimed step run of an execution that has ended; raise the
    attempt of claimed ones so their holders are fenced out. Returns how many.
    ``unfinished``: what ``row_locks.lock_unfinished_runs`` returned, if the caller called it."""
    table = table_of(PlaybookStepExecution)
    runs = table.c
    if unfinished is None:
        unfinished = row_locks.lock_unfinished_runs(session, execution_id)
    if not unfinished:
        stopped = 0
    else:
        result = connection_for(session, PlaybookStepExecution).execute(
            update(table)
            .where(runs.id.in_(unfinished), runs.status.in_(row_locks.UNFINISHED_STEP_STATUSES))
            .values(
                status=StepStatus.SKIPPED,
                error_message=f"Skipped: {reason}",
                attempt=runs.attempt + 1,
                claim_due_at=None,
                lease_expires_at=None,
                deadline_at=None,
                completed_at=utc_now(),
                row_version=runs.row_version + 1,
                updated_at=utc_now(),
            )
        )
        stopped = int(result.rowcount)
    if stopped:
        executions = table_of(PlaybookExecution)
        connection_for(session, PlaybookExecution).execute(
            update(executions)
            .where(executions.c.id == execution_id)
            .values(skipped_steps=executions.c.skipped_steps + stopped)
        )
    for run in settlement.loaded_runs(session, execution_id).values():
        if run.status in (StepStatus.PENDING, StepStatus.RUNNING):
            settlement.show(
                run,
                status=StepStatus.SKIPPED,
                error_message=f"Skipped: {reason}",
                claim_due_at=None,
                lease_expires_at=None,
            )
            session.expire(run, ["attempt", "row_version"])
    loaded = settlement.loaded_execution(session, execution_id)
    if loaded is not None:
        settlement.show(loaded, skipped_steps=(loaded.skipped_steps or 0) + stopped)
    event_at_commit(
        session,
        "execution.steps_stopped",
        playbook_execution_id=execution_id,
        steps=stopped,
        reason=reason,
    )
    return stopped
