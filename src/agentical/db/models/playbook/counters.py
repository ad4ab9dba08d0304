"""Counters updated by one UPDATE statement, safe under any number of writers.

``update_performance_metrics`` reads the counters into Python and writes them back: two
concurrent runs would lose one. ``record_run`` lets the database do the arithmetic, so each
run is one atomic row update and concurrent runs all count. ``increment`` does the same for
a single counter of a loaded object, deferred to its session (see ``deferred``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from agentical.db.errors import NotFoundError
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.deferred import deferred, stored_row
from agentical.db.types import utc_now

COUNTER_ATTRIBUTES = (
    "average_execution_time",
    "successful_executions",
    "failed_executions",
    "total_executions",
    "last_execution_at",
    "updated_at",
)


def _check_run(execution_time_seconds: Any, success: Any) -> float:
    if isinstance(execution_time_seconds, bool) or not isinstance(
        execution_time_seconds, int | float
    ):
        raise TypeError("execution_time_seconds must be a number of seconds")
    if not math.isfinite(execution_time_seconds) or execution_time_seconds < 0:
        raise ValueError(
            f"execution_time_seconds must be finite and >= 0, got {execution_time_seconds}"
        )
    if not isinstance(success, bool):
        raise TypeError("success must be a bool")
    return float(execution_time_seconds)


def record_run(
    session: Session,
    model: type[Any],
    row_id: int,
    execution_time_seconds: float,
    success: bool,
) -> None:
    """Add one run to the counters and running mean of row ``row_id`` of ``model`` (a model
    with ``PerformanceMixin``), in one UPDATE; raise ``NotFoundError`` (a ``LookupError``)
    when there is no row.

    The row version is not bumped: counting a run does not conflict with an edit of the
    definition, and the ORM writes only the columns an edit changed. A copy of the row in
    ``session`` has its counters expired, so it reads the new values.
    """
    seconds = _check_run(execution_time_seconds, success)
    table = model.__table__
    total = table.c.total_executions
    mean = table.c.average_execution_time
    # MariaDB evaluates SET left to right with the new values: the mean goes first, while
    # total_executions still holds the count before this run.
    statement = (
        update(table)
        .where(table.c.id == row_id)
        .ordered_values(
            (mean, mean + (seconds - mean) / (total + 1)),
            (
                table.c.successful_executions,
                table.c.successful_executions + (1 if success else 0),
            ),
            (table.c.failed_executions, table.c.failed_executions + (0 if success else 1)),
            (total, total + 1),
            (table.c.last_execution_at, utc_now()),
            (table.c.updated_at, utc_now()),
        )
    )
    result = connection_for(session, model).execute(statement)
    if result.rowcount == 0:
        raise NotFoundError(f"{model.__name__}: no row with id {row_id}")
    loaded = session.identity_map.get(identity_key(model, row_id))
    if loaded is not None:
        session.expire(loaded, list(COUNTER_ATTRIBUTES))


@dataclass
class _Increments:
    table: Table
    row_id: int
    amounts: dict[str, int] = field(default_factory=dict)

    def write(self, session: Session) -> None:
        columns = self.table.c
        added = {columns[name]: columns[name] + amount for name, amount in self.amounts.items()}
        statement = update(self.table).where(columns.id == self.row_id).values(added)
        connection_for(session, self.table).execute(statement)


def increment(target: Any, attribute: str) -> None:
    """Add one to the integer ``attribute`` of ``target``, at once in memory.

    A stored row gets ``attribute = attribute + 1`` in the database (deferred to its
    session), so increments from concurrent sessions all count; the change is not an
    edit: no ORM write, no ``row_version`` check. A row not yet stored, or an attribute
    already changed by hand in this flush, is set like any attribute.
    """
    value = (getattr(target, attribute) or 0) + 1
    row = stored_row(target, attribute)
    if row is None:
        setattr(target, attribute, value)
        return
    session, table, row_id = row
    key = ("increments", table.name, row_id)
    pending = deferred(session, key, partial(_Increments, table, row_id))
    pending.amounts[attribute] = pending.amounts.get(attribute, 0) + 1
    set_committed_value(target, attribute, value)
