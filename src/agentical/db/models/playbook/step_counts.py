"""An execution's step counts and progress: the figures and their SQL twin.

Workers finish steps of one execution in separate transactions. Written through the ORM,
each would save the counts it read, with a ``row_version`` check: the second commit would
fail with ``StaleDataError``. So a stored execution's copy is updated without history
(``apply``) and the run engine adds the increments in one UPDATE that leaves
``row_version`` alone. An attribute the caller changed itself (``refresh_progress``, a
value set by hand) keeps the plain ORM write: its new value is absolute.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, case, inspect, literal
from sqlalchemy.orm.attributes import set_committed_value

from agentical.db.enums import StepStatus

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


def progress_sql(
    finished: ColumnElement[int], total: int | ColumnElement[int]
) -> ColumnElement[float]:
    """``progress`` computed by the database (``total`` a number or an SQL expression)."""
    hundredths = (finished * 20000 + total) // (total * 2)
    return case((finished >= total, literal(100.0)), else_=hundredths / 100.0)


def apply(execution: PlaybookExecution, values: Mapping[str, Any]) -> None:
    """Give ``execution`` the new ``values`` (counts, ``progress_percentage``,
    ``current_step``) computed from its copy in memory.

    A stored execution's copy takes them without history: the run engine's settlement
    writes the counts to the database as increments at the flush (see
    ``agentical.db.runs.settlement``) and gives the copy the stored figures back. An
    execution not stored yet is set like any object.
    """
    stored = inspect(execution).persistent
    for attribute, value in values.items():
        if stored and not inspect(execution).attrs[attribute].history.has_changes():
            set_committed_value(execution, attribute, value)
        else:
            setattr(execution, attribute, value)
