"""Keep an execution's figures in step with its step executions, and roll finished runs up.

``record_step_transition`` is called by every step execution transition: it moves the
execution's counters (completed, failed, skipped), its current step and its progress.
``record_execution_finished`` is called once, when an execution completes or fails: it adds
the run to the playbook's performance metrics and to those of the template it came from.

Rows already in the database are counted with atomic UPDATEs deferred to the session
(``counters.record_run``, ``step_counts``): concurrent runs and steps all count, and
counting never bumps a row version, so it cannot make a concurrent edit (or another run
finishing) fail with a stale-data error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.mixins import PerformanceMixin
from agentical.db.models.playbook.counters import record_run
from agentical.db.models.playbook.deferred import deferred
from agentical.db.models.playbook.step_counts import (
    COUNT_ATTRIBUTES,
    STEP_COUNTERS,
    apply,
    progress,
)
from agentical.db.models.playbook.step_plan import has_snapshot, plan_of

if TYPE_CHECKING:
    from agentical.db.models.playbook.execution import PlaybookExecution
    from agentical.db.models.playbook.step_execution import PlaybookStepExecution


@dataclass
class _Runs:
    """Runs of one stored row, each added with ``counters.record_run``."""

    model: type[PerformanceMixin]
    row_id: int
    runs: list[tuple[float, bool]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        for seconds, success in self.runs:
            record_run(session, self.model, self.row_id, seconds, success)


def count_run(target: PerformanceMixin, seconds: float, success: bool) -> None:
    """Add one run to ``target``'s metrics.

    A stored row is counted in one atomic UPDATE, deferred to the session (see
    ``deferred``): model methods never do I/O themselves. A row not yet stored is counted
    in Python.
    """
    state = inspect(target)
    if state.persistent and state.session is not None and state.identity is not None:
        model, row_id = type(target), state.identity[0]
        runs = deferred(state.session, ("runs", model, row_id), lambda: _Runs(model, row_id))
        runs.runs.append((seconds, success))
    else:
        target.update_performance_metrics(seconds, success)


def _execution_of(step_execution: PlaybookStepExecution) -> PlaybookExecution | None:
    state = inspect(step_execution)
    if "execution" not in state.dict and state.session is None:
        return None  # detached and not linked: nothing to keep in step
    return step_execution.execution


def total_steps(execution: PlaybookExecution) -> int:
    """How many steps the run has: stored with it, else from its plan."""
    if execution.total_steps:
        return execution.total_steps
    if has_snapshot(execution):
        return len(plan_of(execution))
    return len(execution.step_executions)


def record_step_transition(step_execution: PlaybookStepExecution, target: StepStatus) -> None:
    """Update the execution of ``step_execution`` for a move to ``target`` (see
    ``step_counts``: a stored execution is counted with increments, safe under concurrency)."""
    execution = _execution_of(step_execution)
    if execution is None:
        return
    if target is StepStatus.RUNNING:
        apply(execution, {"current_step": step_execution.step_name})
        return
    counter = STEP_COUNTERS.get(target)
    if counter is None:
        return
    total = total_steps(execution)
    values: dict[str, Any] = {counter: (getattr(execution, counter) or 0) + 1}
    if total:
        finished = sum(values.get(name, getattr(execution, name) or 0) for name in COUNT_ATTRIBUTES)
        values["progress_percentage"] = progress(finished, total)
    apply(execution, values)


def record_execution_finished(execution: PlaybookExecution) -> None:
    """Add a completed or failed run to its playbook's (and template's) metrics."""
    if execution.status not in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
        return
    playbook = execution.playbook
    if playbook is None:
        return
    seconds = execution.execution_time_seconds or 0.0
    success = execution.status == ExecutionStatus.COMPLETED
    count_run(playbook, seconds, success)
    if playbook.template is not None:
        count_run(playbook.template, seconds, success)


def refresh_progress(execution: PlaybookExecution) -> None:
    """Recount the counters and progress of ``execution`` from its step executions.

    For changes that bypass the step methods (a worker taking a failed step back to running
    for a retry, a bulk update); the step methods keep the counters in step on their own.
    """
    runs = list(execution.step_executions)
    for status, counter in STEP_COUNTERS.items():
        setattr(execution, counter, sum(1 for run in runs if run.status == status))
    finished = sum(getattr(execution, name) for name in COUNT_ATTRIBUTES)
    total = total_steps(execution)
    execution.progress_percentage = progress(finished, total) if total else 0.0
