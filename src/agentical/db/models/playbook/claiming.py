"""Exactly-once hand-out of step executions to workers, with leases and retries.

A step execution can be claimed when its execution is running and it is one of:

- pending, due (``next_attempt_at`` empty or past), and every step it depends on has a
  completed or skipped step execution in the same execution;
- running with an expired lease (its worker is gone);
- failed, with attempts left (``retry_count`` below its step's ``retry_attempts``) and
  ``next_attempt_at`` past. ``next_attempt_at`` is set when a step execution is flushed as
  failed: the failure time plus the step's ``retry_delay_seconds``, or nothing when no
  attempt is left.

Claiming locks the chosen rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB
(a transaction the claim opens runs at READ COMMITTED, without which MariaDB skips rows
nobody locked), and takes the single write lock on SQLite, so concurrent workers never get
the same row. The claim bumps ``row_version``: a worker whose lease expired and was taken
over gets ``StaleDataError`` when it tries to finish the step.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    event,
    exists,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapper, Session, aliased
from sqlalchemy.orm.util import identity_key

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.lifecycle import STEP_EXECUTION_TRANSITIONS, check_transition
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import (
    begin_read_committed,
    is_mysql_family,
    take_sqlite_write_lock,
)
from agentical.db.models.playbook.step import PlaybookStep, step_dependencies
from agentical.db.models.playbook.step_counts import progress_sql
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.observability import lifecycle_event
from agentical.db.types import utc_now

WORKER_ID_MAX_LENGTH = 255
CANDIDATE_WINDOW = 32
DEPENDENCY_DONE_STATUSES = (StepStatus.COMPLETED, StepStatus.SKIPPED)
CLAIM_EVENTS = {
    StepStatus.PENDING: "step.claimed",
    StepStatus.FAILED: "step.retry_claimed",
    StepStatus.RUNNING: "step.lease_taken_over",
}


def _dependencies_met() -> ColumnElement[bool]:
    """Every step this one depends on has a run in the same execution that is completed,
    skipped, or failed for good on an optional step (as ``ready_steps`` counts them)."""
    dependency_run = aliased(PlaybookStepExecution)
    dependency_step = aliased(PlaybookStep)
    optional_and_given_up = and_(
        dependency_run.status == StepStatus.FAILED,
        dependency_run.next_attempt_at.is_(None),
        exists().where(
            dependency_step.id == dependency_run.playbook_step_id,
            dependency_step.is_optional.is_(True),
        ),
    )
    # Correlated two levels up, which automatic correlation does not reach.
    satisfied = (
        exists()
        .where(
            dependency_run.playbook_execution_id == PlaybookStepExecution.playbook_execution_id,
            dependency_run.playbook_step_id == step_dependencies.c.depends_on_step_id,
            or_(dependency_run.status.in_(DEPENDENCY_DONE_STATUSES), optional_and_given_up),
        )
        .correlate(PlaybookStepExecution, step_dependencies)
    )
    unmet = exists().where(
        step_dependencies.c.step_id == PlaybookStepExecution.playbook_step_id, ~satisfied
    )
    return ~unmet


def claimable(now: datetime) -> ColumnElement[bool]:
    """The WHERE clause of a claim at time ``now`` (subqueries only, so a locking read
    locks nothing but the step execution rows)."""
    step_run = PlaybookStepExecution
    execution_running = exists().where(
        PlaybookExecution.id == step_run.playbook_execution_id,
        PlaybookExecution.status == ExecutionStatus.RUNNING,
    )
    attempts_left = exists().where(
        PlaybookStep.id == step_run.playbook_step_id,
        step_run.retry_count < PlaybookStep.retry_attempts,
    )
    pending_and_ready = and_(
        step_run.status == StepStatus.PENDING,
        or_(step_run.next_attempt_at.is_(None), step_run.next_attempt_at <= now),
        _dependencies_met(),
    )
    lease_expired = and_(
        step_run.status == StepStatus.RUNNING,
        step_run.lease_expires_at.is_not(None),
        step_run.lease_expires_at <= now,
    )
    retry_due = and_(
        step_run.status == StepStatus.FAILED,
        step_run.next_attempt_at.is_not(None),
        step_run.next_attempt_at <= now,
        attempts_left,
    )
    return and_(execution_running, or_(pending_and_ready, lease_expired, retry_due))


def _check_arguments(worker_id: Any, limit: Any, lease_seconds: Any) -> None:
    if not isinstance(worker_id, str) or not worker_id.strip():
        raise ValueError("worker_id must be a non-empty string")
    if len(worker_id) > WORKER_ID_MAX_LENGTH:
        raise ValueError(f"worker_id is longer than {WORKER_ID_MAX_LENGTH} characters")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit must be an integer >= 1")
    if (
        isinstance(lease_seconds, bool)
        or not isinstance(lease_seconds, int | float)
        or not math.isfinite(lease_seconds)
        or lease_seconds <= 0
    ):
        raise ValueError("lease_seconds must be a number > 0")


def _give_back_failure(session: Session, step_run: PlaybookStepExecution) -> None:
    """A retried step is no longer failed: its execution counts one failure less and
    recomputes its progress (over its number of step executions).

    One UPDATE that leaves ``row_version`` alone, like the step counts of ``step_counts``:
    a session holding the execution (to pause it, say) is not made stale by a retry.
    """
    table = PlaybookExecution.__table__
    assert isinstance(table, Table)
    columns = table.c
    total = (
        select(func.count())
        .where(PlaybookStepExecution.playbook_execution_id == columns.id)
        .scalar_subquery()
    )
    finished = columns.completed_steps + columns.failed_steps - 1 + columns.skipped_steps
    connection_for(session, PlaybookExecution).execute(
        update(table)
        .where(columns.id == step_run.playbook_execution_id, columns.failed_steps > 0)
        # First: MariaDB evaluates SET left to right, with the values already assigned.
        .ordered_values(
            (columns.progress_percentage, progress_sql(finished, total)),
            (columns.failed_steps, columns.failed_steps - 1),
        )
    )
    loaded = session.identity_map.get(
        identity_key(PlaybookExecution, step_run.playbook_execution_id)
    )
    if loaded is not None:
        session.expire(loaded, ["failed_steps", "progress_percentage"])


def _take(session: Session, step_run: PlaybookStepExecution, worker_id: str, now: datetime) -> None:
    """Switch a claimable row to running for ``worker_id``.

    Only the step execution row is written, never its execution's: concurrent claims of
    steps of one execution must not conflict on that row. Pending -> running is the
    public transition; failed -> running (a retry) and running -> running (taking over an
    expired lease) exist only here, under the row lock.
    """
    previous = StepStatus(step_run.status)
    label = f"PlaybookStepExecution '{step_run.step_name}' (id={step_run.id})"
    if previous == StepStatus.PENDING:
        check_transition(label, STEP_EXECUTION_TRANSITIONS, previous, StepStatus.RUNNING)
    elif previous == StepStatus.FAILED:
        step_run.retry_count = (step_run.retry_count or 0) + 1
        _give_back_failure(session, step_run)
    lifecycle_event(
        CLAIM_EVENTS[previous],
        step_execution_id=step_run.id,
        playbook_execution_id=step_run.playbook_execution_id,
        step_name=step_run.step_name,
        retry_count=step_run.retry_count,
        worker=worker_id,
    )
    step_run.status = StepStatus.RUNNING
    step_run.started_at = now
    step_run.completed_at = None
    step_run.execution_time_seconds = None
    step_run.error_message = None
    step_run.next_attempt_at = None
    step_run.claimed_by = worker_id


def _locking_select(now: datetime) -> Select[PlaybookStepExecution]:
    return (
        select(PlaybookStepExecution)
        .where(claimable(now))
        .order_by(PlaybookStepExecution.id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def _lock_by_primary_key(
    session: Session, now: datetime, limit: int
) -> list[PlaybookStepExecution]:
    """MariaDB: read candidate ids without locks, then lock only as many as are wanted.

    MariaDB plans the claim query as a join with a sort and locks every matching row it
    reads before LIMIT applies: one claim would hold (and hide from other workers) every
    ready row. Locking a list of primary keys, no longer than the rows still wanted,
    locks only rows that are returned. The oldest candidates are tried first, the rest
    in random order, so concurrent workers spread over them instead of all skipping the
    same rows one statement at a time.
    """
    claimed: list[PlaybookStepExecution] = []
    window = max(4 * limit, CANDIDATE_WINDOW)
    after = 0
    while len(claimed) < limit:
        candidates = list(
            session.scalars(
                select(PlaybookStepExecution.id)
                .where(claimable(now), PlaybookStepExecution.id > after)
                .order_by(PlaybookStepExecution.id)
                .limit(window)
            )
        )
        head, rest = candidates[:limit], candidates[limit:]
        untried = head + random.sample(rest, len(rest))
        while untried and len(claimed) < limit:
            wanted = limit - len(claimed)
            chunk, untried = untried[:wanted], untried[wanted:]
            claimed.extend(
                session.scalars(_locking_select(now).where(PlaybookStepExecution.id.in_(chunk)))
            )
        if len(candidates) < window:
            break
        after = candidates[-1]
    return sorted(claimed, key=lambda step_run: step_run.id)


def claim_ready_steps(
    session: Session,
    *,
    worker_id: str,
    limit: int = 1,
    lease_seconds: float = 300,
) -> list[PlaybookStepExecution]:
    """Claim up to ``limit`` ready step executions for ``worker_id``, oldest first.

    Each returned step execution is running, with ``claimed_by`` set and a lease until
    ``lease_expires_at``; the changes are flushed, not committed: commit to publish the
    claim (and, on SQLite, to release the write lock). No two concurrent claims return the
    same row. An empty list means nothing is ready now.
    """
    _check_arguments(worker_id, limit, lease_seconds)
    begin_read_committed(session, PlaybookStepExecution)
    take_sqlite_write_lock(session, PlaybookStepExecution)
    now = utc_now()
    if is_mysql_family(session, PlaybookStepExecution):
        claimed = _lock_by_primary_key(session, now, limit)
    else:
        claimed = list(session.scalars(_locking_select(now).limit(limit)))
    lease_end = now + timedelta(seconds=lease_seconds)
    for step_run in claimed:
        _take(session, step_run, worker_id, now)
        step_run.lease_expires_at = lease_end
    session.flush()
    return claimed


def _schedule_retry(connection: Connection, target: PlaybookStepExecution) -> None:
    if target.status != StepStatus.FAILED or target.next_attempt_at is not None:
        return
    if not inspect(target).attrs.status.history.has_changes():
        return
    if target.playbook_step_id is None:
        return
    row = connection.execute(
        select(PlaybookStep.retry_attempts, PlaybookStep.retry_delay_seconds).where(
            PlaybookStep.id == target.playbook_step_id
        )
    ).first()
    if row is None or (target.retry_count or 0) >= row.retry_attempts:
        return
    failed_at = target.completed_at or utc_now()
    target.next_attempt_at = failed_at + timedelta(seconds=row.retry_delay_seconds)


@event.listens_for(PlaybookStepExecution, "before_insert")
@event.listens_for(PlaybookStepExecution, "before_update")
def _schedule_retry_on_failure(
    _mapper: Mapper[Any], connection: Connection, target: PlaybookStepExecution
) -> None:
    """A step execution flushed as failed with attempts left gets its next attempt time."""
    _schedule_retry(connection, target)
