"""The rows a URL names: an execution by its ``execution_id``, a step run by its
execution and step name (a playbook or a template: ``agentical.db.lookups``).

Each raises ``NotFoundError`` (404) naming what was looked for.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db.details import select_execution_detail
from agentical.db.lookups import first_or_missing
from agentical.db.models.playbook import PlaybookExecution, PlaybookStepExecution


def find_execution(
    session: Session, execution_id: str, *, detail: bool = False
) -> PlaybookExecution:
    """``detail`` loads what ``execution_detail`` shows with it."""
    statement = select_execution_detail() if detail else select(PlaybookExecution)
    statement = statement.where(PlaybookExecution.execution_id == execution_id)
    return first_or_missing(session, statement, f"no execution {execution_id!r}", execution_id)


def find_step_run(session: Session, execution_id: str, step_name: str) -> PlaybookStepExecution:
    statement = (
        select(PlaybookStepExecution)
        .join(PlaybookStepExecution.execution)
        .where(
            PlaybookExecution.execution_id == execution_id,
            PlaybookStepExecution.step_name == step_name,
        )
    )
    missing = f"no step {step_name!r} in execution {execution_id!r}"
    return first_or_missing(session, statement, missing, execution_id, step_name)
