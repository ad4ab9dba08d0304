"""Find playbooks, templates and executions by the names and ids users type: the
library's lookups (``agentical.db.lookups``), with a hint where to find the names, and an
execution by the start of its id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.db import lookups
from agentical.db.details import select_execution_detail
from agentical.db.models.playbook import (
    InvalidInputError,
    NotFoundError,
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    PlaybookTemplate,
)

# An execution may be named by the start of its id, as long as only one id starts so.
MIN_EXECUTION_PREFIX = 4


def find_playbook(session: Session, name: str, version: int | None = None) -> Playbook:
    """The active playbook called ``name``: ``version``, else its latest version."""
    with _hint("agentical playbook list"):
        return lookups.find_playbook(session, name.strip(), version)


def find_template(session: Session, name: str, version: str | None = None) -> PlaybookTemplate:
    """The active template called ``name``: ``version``, else the newest one created."""
    with _hint("agentical template list"):
        return lookups.find_template(session, name, version)


@contextmanager
def _hint(command: str) -> Iterator[None]:
    """A name that finds nothing says where the names are."""
    try:
        yield
    except NotFoundError as error:
        raise NotFoundError(f"{error}: see `{command}`") from None


def find_execution(session: Session, reference: str) -> PlaybookExecution:
    """The execution whose ``execution_id`` is ``reference``, or the only one it starts,
    loaded with what ``execution_detail`` shows."""
    reference = reference.strip()
    exact = PlaybookExecution.execution_id == reference
    found = session.scalars(select_execution_detail().where(exact)).first()
    if found is not None:
        return found
    if len(reference) < MIN_EXECUTION_PREFIX:
        raise InvalidInputError(
            f"execution: give its id or at least {MIN_EXECUTION_PREFIX} characters of it"
        )
    escaped = reference.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    starts = PlaybookExecution.execution_id.like(f"{escaped}%", escape="\\")
    ids = session.scalars(select(PlaybookExecution.id).where(starts).limit(2)).all()
    if len(ids) > 1:
        raise InvalidInputError(f"execution: several ids start with '{reference}': give more")
    if not ids:
        raise NotFoundError(f"no execution '{reference}': see `agentical execution list`")
    return session.scalars(select_execution_detail().where(PlaybookExecution.id == ids[0])).one()


def find_step_run(execution: PlaybookExecution, step_name: str) -> PlaybookStepExecution:
    for run in execution.step_executions:
        if run.step_name == step_name:
            return run
    names = ", ".join(run.step_name for run in execution.step_executions)
    raise NotFoundError(
        f"execution {execution.execution_id} has no step '{step_name}' (its steps: {names})"
    )
