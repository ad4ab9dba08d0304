"""A finished run's steps, added to their steps' metrics once, when the run ends.

One write per step for the whole run, so finishing a step costs no write on the step's
row, which every run of the playbook shares. PostgreSQL and SQLite do it in one
``UPDATE ... FROM`` over the run's finished step rows.

MariaDB's multi-table ``UPDATE`` share-locks every row it reads from the other table, even
at READ COMMITTED. A cancel (or a retry, a run timeout) that waited for a step row which
then finished keeps its lock on it while it waits for the next one; the run's end, holding
that next one, would wait for the first: a deadlock. So on MariaDB the run's step rows are
read first without a lock and the steps are written from the values read. A row that the
transaction's snapshot still shows unfinished (REPEATABLE READ, begun before it finished)
is read again under a share lock, which gives its latest version (and can wait for a
cancel holding that row: at REPEATABLE READ such a race can still deadlock, one reason
the library's engines begin at READ COMMITTED on MariaDB).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, case, func, select, update
from sqlalchemy.orm import Session

from agentical.db.enums import StepStatus
from agentical.db.models.base import table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.locking import is_mysql_family
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.runs.row_locks import FINISHED_STEP_STATUSES
from agentical.db.types import utc_now

STEP_METRICS = (
    "total_executions",
    "successful_executions",
    "failed_executions",
    "average_execution_time",
    "last_execution_at",
)
COUNTED = (StepStatus.COMPLETED, StepStatus.FAILED)
# Steps per UPDATE on MariaDB: each is named in two CASEs, and a CASE is read in order.
_STEPS_PER_STATEMENT = 500


class _Finished(NamedTuple):
    step_id: int
    seconds: float
    succeeded: int


def add_step_metrics(session: Session, execution_id: int) -> None:
    """Add each completed or failed step run of an ended execution to its step's metrics."""
    connection = connection_for(session, PlaybookStep)
    if is_mysql_family(session, PlaybookStep):
        finished = _finished_by_value(connection, execution_id)
        for start in range(0, len(finished), _STEPS_PER_STATEMENT):
            _write(connection, finished[start : start + _STEPS_PER_STATEMENT])
    else:
        _write_from_rows(connection, execution_id)
    for instance in session.identity_map.values():
        if isinstance(instance, PlaybookStep):
            session.expire(instance, list(STEP_METRICS))


def _metric_values(
    seconds: ColumnElement[Any], succeeded: ColumnElement[Any]
) -> list[tuple[Any, Any]]:
    steps = table_of(PlaybookStep).c
    total, mean = steps.total_executions, steps.average_execution_time
    # Mean first: MariaDB evaluates SET left to right, with the values already assigned.
    return [
        (mean, mean + (seconds - mean) / (total + 1)),
        (steps.successful_executions, steps.successful_executions + succeeded),
        (steps.failed_executions, steps.failed_executions + 1 - succeeded),
        (total, total + 1),
        (steps.last_execution_at, utc_now()),
    ]


def _write_from_rows(connection: Connection, execution_id: int) -> None:
    runs = table_of(PlaybookStepExecution).c
    finished = (
        select(
            runs.playbook_step_id.label("step_id"),
            func.coalesce(runs.execution_time_seconds, 0.0).label("seconds"),
            case((runs.status == StepStatus.COMPLETED, 1), else_=0).label("succeeded"),
        )
        .where(
            runs.playbook_execution_id == execution_id,
            runs.playbook_step_id.is_not(None),
            runs.status.in_(COUNTED),
        )
        .subquery()
    )
    steps = table_of(PlaybookStep)
    connection.execute(
        update(steps)
        .where(steps.c.id == finished.c.step_id)
        .ordered_values(*_metric_values(finished.c.seconds, finished.c.succeeded))
    )


def _finished_by_value(connection: Connection, execution_id: int) -> list[_Finished]:
    """The run's counted step runs in step id order, read without a lock (see the module
    docstring); those the snapshot shows unfinished are read again, share-locked."""
    runs = table_of(PlaybookStepExecution).c
    read = select(runs.id, runs.playbook_step_id, runs.status, runs.execution_time_seconds)
    rows: Sequence[Any] = connection.execute(
        read.where(runs.playbook_execution_id == execution_id)
    ).all()
    stale = [row.id for row in rows if row.status not in FINISHED_STEP_STATUSES]
    if stale:
        latest = connection.execute(read.where(runs.id.in_(stale)).with_for_update(read=True))
        again = {row.id: row for row in latest}
        rows = [again.get(row.id, row) for row in rows]
    by_step = {
        row.playbook_step_id: _Finished(
            row.playbook_step_id,
            row.execution_time_seconds or 0.0,
            int(row.status == StepStatus.COMPLETED),
        )
        for row in rows
        if row.playbook_step_id is not None and row.status in COUNTED
    }
    return sorted(by_step.values())


def _write(connection: Connection, chunk: Sequence[_Finished]) -> None:
    """One UPDATE for ``chunk``'s steps, locked in id order (as every run's end does)."""
    steps = table_of(PlaybookStep)
    seconds = case({each.step_id: each.seconds for each in chunk}, value=steps.c.id)
    succeeded = case({each.step_id: each.succeeded for each in chunk}, value=steps.c.id)
    connection.execute(
        update(steps)
        .where(steps.c.id.in_([each.step_id for each in chunk]))
        .ordered_values(*_metric_values(seconds, succeeded))
    )
