"""Rows the concurrency tests start from, committed through a plain session."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentical.db import runs
from agentical.db.models.playbook import PlaybookExecution, PlaybookStepExecution
from agentical.db.testing.factories import make_playbook
from agentical.db.testing.queries import QueryLog, count_queries


def running_execution(
    session: Session,
    *,
    steps: int = 3,
    chain: bool = False,
    retry_attempts: int = 0,
    retry_delay_seconds: int = 30,
    optional: int | None = None,
) -> PlaybookExecution:
    """A running execution with one pending step execution per step (flushed); step
    number ``optional`` (from 1) is optional."""
    playbook = make_playbook(session, steps=steps, chain=chain)
    for step in playbook.steps:
        step.retry_attempts = retry_attempts
        step.retry_delay_seconds = retry_delay_seconds
        step.is_optional = step.step_order == optional
    execution = PlaybookExecution(playbook=playbook)
    session.add(execution)
    session.flush()
    execution.start_execution()
    session.add_all(
        PlaybookStepExecution(
            playbook_execution_id=execution.id, step=step, step_order=step.step_order
        )
        for step in playbook.steps
    )
    session.flush()
    return execution


def claim_and_finish_statements(engine: Engine, session: Session) -> tuple[QueryLog, QueryLog]:
    """The statements of a claim (its transaction, committed) and of finishing the claimed
    run (its own), as a worker sends them; the first claim and finish warm the caches.
    The execution in ``session`` needs three ready steps that release nothing."""
    (warm,) = runs.claim_ready_steps(session, worker_id="counter")
    runs.complete_step(session, warm)
    session.commit()
    with count_queries(engine) as claim:
        (claimed,) = runs.claim_ready_steps(session, worker_id="counter")
        session.commit()
    with count_queries(engine) as finish:
        runs.complete_step(session, claimed)
        session.commit()
    return claim, finish
