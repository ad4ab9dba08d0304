"""An execution's step counts, current step and progress, written as increments.

Workers finish steps of one execution in separate transactions. Written through the ORM,
each would save the counts it read, with a ``row_version`` check: the second commit would
fail with ``StaleDataError``. Instead a stored execution's copy is updated without
history (the ORM has nothing to write and no version to check) and the change is queued
on the session (``deferred``): one UPDATE per execution adds the increments to the row's
current counts and computes the progress from them, without touching ``row_version``.
Every finished step is counted, whatever the number of workers.

An attribute the caller changed itself in this flush (``refresh_progress``, or a value
set by hand) keeps the plain ORM write: its new value is absolute and already includes
the change, so no increment is queued for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, case, literal, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import StepStatus
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.deferred import deferred, stored_row
from agentical.db.types import utc_now

if TYPE_CHECKING:
    from agentical.db.models.playbook.execution import PlaybookExecution

STEP_COUNTERS = {
    StepStatus.COMPLETED: "completed_steps",
    StepStatus.FAILED: "failed_steps",
    StepStatus.SKIPPED: "skipped_steps",
}
COUNT_ATTRIBUTES = tuple(STEP_COUNTERS.values())


def progress(finished: int, total: int) -> float:
    """Percentage of ``total`` steps finished, rounded half up to 0.01, at most 100.

    Integer arithmetic, so the database computes the same figure (see ``progress_sql``).
    """
    if finished >= total:
        return 100.0
    return ((20000 * finished + total) // (2 * total)) / 100


@dataclass
class _Change:
    """What one execution's UPDATE adds (see ``deferred`` for when it is written)."""

    table: Table
    row_id: int
    total: int
    increments: dict[str, int] = field(default_factory=dict)
    progress: bool = False
    current_step: str | None = None

    def write(self, session: Session) -> None:
        table = self.table
        new_counts = {
            name: table.c[name] + self.increments.get(name, 0) for name in COUNT_ATTRIBUTES
        }
        values: list[tuple[Any, Any]] = []
        if self.progress and self.total:
            finished = new_counts["completed_steps"]
            finished = finished + new_counts["failed_steps"] + new_counts["skipped_steps"]
            # First: MariaDB evaluates SET left to right, with the values already assigned.
            values.append((table.c.progress_percentage, progress_sql(finished, self.total)))
        values.extend((table.c[name], new_counts[name]) for name in self.increments)
        if self.current_step is not None:
            values.append((table.c.current_step, self.current_step))
        values.append((table.c.updated_at, utc_now()))
        statement = update(table).where(table.c.id == self.row_id).ordered_values(*values)
        connection_for(session, table).execute(statement)


def progress_sql(
    finished: ColumnElement[int], total: int | ColumnElement[int]
) -> ColumnElement[float]:
    """``progress`` computed by the database (``total`` a number or an SQL expression)."""
    hundredths = (finished * 20000 + total) // (total * 2)
    return case((finished >= total, literal(100.0)), else_=hundredths / 100.0)


def apply(execution: PlaybookExecution, values: Mapping[str, Any], total: int) -> None:
    """Give ``execution`` the new ``values`` (counts, ``progress_percentage``,
    ``current_step``): queued as increments for a stored execution, set plainly otherwise.

    ``values`` holds absolute figures computed from the copy in memory; a count is one
    more than the copy's. ``total`` (the number of steps) is needed with a progress.
    """
    for attribute, value in values.items():
        row = stored_row(execution, attribute)
        if row is None:
            setattr(execution, attribute, value)
            continue
        session, table, row_id = row
        change = deferred(session, ("step_counts", row_id), partial(_Change, table, row_id, total))
        change.total = total or change.total
        if attribute in COUNT_ATTRIBUTES:
            change.increments[attribute] = change.increments.get(attribute, 0) + 1
        elif attribute == "progress_percentage":
            change.progress = True
        elif attribute == "current_step":
            change.current_step = value
        set_committed_value(execution, attribute, value)
