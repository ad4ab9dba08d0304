"""What may run now, read from the state the run engine keeps in the step runs.

A run is ready when it is pending, due (no retry waiting) and has no unfinished
dependency left (``unmet_dependencies``, kept by ``settlement``): the same state a claim
reads, so ``ready_steps()`` and ``claim_ready_steps()`` never disagree.
"""

from __future__ import annotations

from sqlalchemy.orm import object_session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook.deferred import write_deferred
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.scheduling import blocked_steps
from agentical.db.types import utc_now


def _settled(execution: PlaybookExecution) -> None:
    """Flush what the session holds, so the run's state includes its own last changes."""
    session = object_session(execution)
    if session is not None and session.autoflush:
        session.flush()
        write_deferred(session)


def ready_step_executions(execution: PlaybookExecution) -> list[PlaybookStepExecution]:
    """The pending, due step runs with every dependency finished; none unless running."""
    _settled(execution)
    if execution.status != ExecutionStatus.RUNNING:
        return []
    now = utc_now()
    return [
        run
        for run in execution.step_executions
        if run.status is StepStatus.PENDING
        and not run.unmet_dependencies
        and (run.next_attempt_at is None or run.next_attempt_at <= now)
    ]


def blocked_step_executions(
    execution: PlaybookExecution,
) -> list[tuple[PlaybookStepExecution, str]]:
    """Pending step runs that can never run, each with the reason (the failed step).

    The run engine skips these itself when the failure is flushed; this finds them in a
    run that was changed without a session.
    """
    plan = plan_of(execution)
    runs = {run.step_name: run for run in execution.step_executions}
    states = {name: run.status for name, run in runs.items()}
    optional = {name: step.optional for name, step in plan.steps.items()}
    blocked = blocked_steps(plan.dependency_graph, states, optional)
    return [
        (run, f"dependency '{blocked[name]}' failed")
        for name, run in runs.items()
        if name in blocked
    ]
