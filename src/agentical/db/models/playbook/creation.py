"""``create_execution``: the write path for large plans, one bulk INSERT for the step runs.

``Playbook.new_execution`` makes one ORM object per step and does no I/O, so it can be
called from async code. For thousands of steps those objects and the unit of work cost
about three times a plain ``executemany`` of the same rows. ``create_execution`` takes the
session: it checks and snapshots exactly as ``new_execution`` does, flushes the execution,
and writes its step executions as plain rows in one bulk INSERT, with the values the ORM
would give them. ``execution.step_executions`` loads on first access.

From async code: ``await session.run_sync(create_execution, playbook, inputs)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert, inspect
from sqlalchemy.orm import Session, object_session

from agentical.db.models.base import defaults_factory
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.execution import PlaybookExecution
from agentical.db.models.playbook.planning import (
    announce_planned,
    bare_execution,
    in_dependency_order,
    planned_run_values,
)
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.models.playbook.step import PlaybookStep
from agentical.db.models.playbook.step_execution import PlaybookStepExecution
from agentical.db.models.playbook.step_plan import plan_of
from agentical.db.types import utc_now

_GIVEN = frozenset(
    {
        "playbook_execution_id",
        "playbook_step_id",
        "step_name",
        "step_order",
        "step_type",
        "unmet_dependencies",
        "claim_due_at",
    }
)


def step_execution_rows(
    execution: PlaybookExecution, steps: list[PlaybookStep]
) -> list[dict[str, Any]]:
    """One pending step execution row per stored step, as ``new_execution`` would write it
    (and in the same order: the plan's ``dependency_order``)."""
    defaults = defaults_factory(inspect(PlaybookStepExecution), _GIVEN)
    plan, now = plan_of(execution), utc_now()
    return [
        {
            **defaults(),
            **planned_run_values(plan.step(step.step_name), now),
            "playbook_execution_id": execution.id,
            "playbook_step_id": step.id,
            "step_name": step.step_name,
            "step_order": step.step_order,
        }
        for step in in_dependency_order(plan, steps)
    ]


def create_execution(
    session: Session,
    playbook: Playbook,
    input_variables: Mapping[str, Any] | None = None,
    *,
    executed_by_user_id: int | None = None,
    triggered_by: str = "manual",
    idempotency_key: str | None = None,
) -> PlaybookExecution:
    """Write a pending execution of ``playbook`` and one pending step execution per step.

    The same checks, snapshot and idempotency as ``Playbook.new_execution``: a refused
    playbook or input raises before anything is written, and a repeated
    ``idempotency_key`` returns the execution made with it. ``playbook`` must belong to
    ``session``. The execution is flushed, its step executions are inserted in one
    statement (no before/after insert events run for them) and ``step_executions``
    loads on first access. Nothing is committed.
    """
    if object_session(playbook) is not session:
        raise ValueError(
            f"Playbook '{playbook.name}' (id={playbook.id}) is not in this session: "
            "load it with the session, or add it, before create_execution"
        )
    execution, is_new = bare_execution(
        playbook,
        input_variables,
        executed_by_user_id=executed_by_user_id,
        triggered_by=triggered_by,
        idempotency_key=idempotency_key,
    )
    if not is_new:
        return execution
    steps = list(playbook.steps)
    session.add(execution)
    session.flush()
    # Core, not the ORM's bulk INSERT: that one keeps enough per-row objects alive to set
    # off a full garbage collection, as slow as the INSERT itself in a session this size.
    connection_for(session, PlaybookStepExecution).execute(
        insert(PlaybookStepExecution), step_execution_rows(execution, steps)
    )
    session.expire(execution, ["step_executions"])
    for step in steps:
        if "step_executions" in step.__dict__:
            session.expire(step, ["step_executions"])
    announce_planned(execution, len(steps))
    return execution
