"""The order in which a transaction that writes several step rows of one run locks them.

The step that ends a run (a worker's, a person's) holds its own row and the execution's,
then reads every step row of the run for the steps' metrics; a worker settling a step
locks its row, then those of the steps after it, then the execution's row. A writer of
several step rows (a cancel, a run timeout, a retry) must wait for such a step holding no
other row of the run, or they deadlock: so it locks the run's unfinished rows first, by
primary key and in id order (a lock taken through an index of the step runs holds the
index entry the run's end reads, and MariaDB's UPDATE at REPEATABLE READ locked every row
it read, finished ones too), and only then anything else. Ids follow the plan's
``dependency_order`` (a run's step rows are created in it), so a step's row comes before
its dependants': the worker settling a step holds that row while it locks theirs, and a
writer reaches it first and waits. Step order would not do: a step may depend on one
ordered after it.

The unfinished ids are read a statement before they are locked, and a lock may wait: a
row may have finished by the time it is held. Holding it does not stop the run's end,
whose read of the step rows takes no lock (``step_metrics``; at MariaDB's REPEATABLE
READ, except on a row its snapshot shows unfinished).
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from agentical.db.enums import StepStatus
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.locking import take_sqlite_write_lock
from agentical.db.models.playbook.step_execution import PlaybookStepExecution

UNFINISHED_STEP_STATUSES = (StepStatus.PENDING, StepStatus.RUNNING)
FINISHED_STEP_STATUSES = (StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.SKIPPED)


def _ids(connection: Connection, execution_id: int, *, unfinished: bool) -> list[int]:
    """The run's step row ids in id order (``unfinished``: of pending and claimed ones),
    read without a lock."""
    runs = table_of(PlaybookStepExecution).c
    statement = select(runs.id).where(runs.playbook_execution_id == execution_id)
    if unfinished:
        statement = statement.where(runs.status.in_(UNFINISHED_STEP_STATUSES))
    return list(connection.scalars(statement.order_by(runs.id)).all())


def lock_unfinished_runs(session: Session, execution_id: int) -> list[int]:
    """Lock an execution's pending and claimed step runs before any other of its step
    rows, in id order; the ids of those unfinished once locked.

    The rows locked first are those unfinished as read without a lock (on MariaDB, as of
    the transaction's snapshot: one finished since is locked all the same); the run's
    step rows are then read under a share lock, as the run's end reads them, and one
    reopened since (a retry) is locked too.
    """
    take_sqlite_write_lock(session, PlaybookStepExecution)  # SQLite: one writer from here on
    runs = table_of(PlaybookStepExecution).c
    connection = connection_for(session, PlaybookStepExecution)
    first = _ids(connection, execution_id, unfinished=True)
    _lock_by_id(connection, first)
    locked = set(first)
    latest = connection.execute(
        select(runs.id, runs.status)
        .where(runs.playbook_execution_id == execution_id)
        .order_by(runs.id)
        .with_for_update(read=True)
    ).all()
    unfinished = [row.id for row in latest if row.status in UNFINISHED_STEP_STATUSES]
    _lock_by_id(connection, [run_id for run_id in unfinished if run_id not in locked])
    return unfinished


def _lock_by_id(connection: Connection, ids: list[int]) -> None:
    """Lock the step rows ``ids`` in id order, through the primary key alone."""
    if not ids:
        return
    table = table_of(PlaybookStepExecution)
    connection.execute(
        select(table.c.id)
        .with_hint(table, "FORCE INDEX (PRIMARY)", dialect_name="mysql")
        .with_hint(table, "FORCE INDEX (PRIMARY)", dialect_name="mariadb")
        .where(table.c.id.in_(ids))
        .order_by(table.c.id)
        .with_for_update()
    ).all()


def lock_run_rows(session: Session, execution_id: int) -> None:
    """Lock every step row of a run for writing: the unfinished ones first, then all, by
    primary key and in id order, with no share lock in between (two writers holding one
    on the same row would each wait for the other to let it go, a deadlock)."""
    take_sqlite_write_lock(session, PlaybookStepExecution)  # SQLite: one writer from here on
    connection = connection_for(session, PlaybookStepExecution)
    _lock_by_id(connection, _ids(connection, execution_id, unfinished=True))
    _lock_by_id(connection, _ids(connection, execution_id, unfinished=False))


def lock_execution_row(session: Session, execution_id: int) -> None:
    """Lock the execution's row for writing, after its step rows and before the metrics of
    its steps and playbook, in the order of the run's end: a person ending or cancelling a
    run (the ORM writes its row only at the end of the flush) then waits for a resume or a
    worker ending it, instead of holding the metrics rows they need."""
    take_sqlite_write_lock(session, PlaybookExecution)
    table = table_of(PlaybookExecution)
    connection_for(session, PlaybookExecution).execute(
        select(table.c.id).where(table.c.id == execution_id).with_for_update(key_share=True)
    ).all()
