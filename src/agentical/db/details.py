"""Detail views for an API or a CLI: a playbook with its steps and variables, an execution
with its step runs, each one JSON-ready dict, from rows loaded in a fixed number of queries.

Load with the statements here, then serialise: the serialisation reads only what the
statement loaded, so it sends no query (and works on objects of an ``AsyncSession``)::

    playbook = session.scalars(select_playbook_detail().where(Playbook.id == 7)).one()
    document = playbook_detail(playbook)                    # 3 queries in all

    execution = session.scalars(select_execution_detail().where(...)).one()
    document = execution_detail(execution)                  # 4 queries in all

Sensitive values are masked as in ``to_dict()``: variable defaults, and the execution's
inputs and outputs named by its playbook's sensitive variables.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from agentical.db.models.playbook import (
    ExecutionDetailRead,
    Playbook,
    PlaybookDetailRead,
    PlaybookExecution,
)


def select_playbook_detail() -> Select[Playbook]:
    """Playbooks with what ``playbook_detail`` shows: three queries for any number."""
    return Playbook.select_full()


def select_execution_detail() -> Select[PlaybookExecution]:
    """Executions with their step runs, the variables that say which inputs are secret and
    their snapshots (which load with them): four queries for any number of executions
    (the playbook's steps are not loaded)."""
    return select(PlaybookExecution).options(
        selectinload(PlaybookExecution.step_executions),
        joinedload(PlaybookExecution.playbook).options(
            lazyload(Playbook.steps), selectinload(Playbook.variables)
        ),
    )


def playbook_detail(playbook: Playbook) -> dict[str, Any]:
    """``PlaybookDetailRead`` of ``playbook`` as a JSON-ready dict."""
    return PlaybookDetailRead.model_validate(playbook).model_dump(
        mode="json", context=playbook.serialization_context()
    )


def execution_detail(execution: PlaybookExecution) -> dict[str, Any]:
    """``ExecutionDetailRead`` of ``execution`` as a JSON-ready dict, secrets masked."""
    return ExecutionDetailRead.model_validate(execution).model_dump(
        mode="json", context=execution.serialization_context()
    )
