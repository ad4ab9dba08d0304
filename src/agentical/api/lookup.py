"""The rows a URL names: a playbook by name (and version), a template by name, an
execution by its ``execution_id``, a step run by its execution and step name.

Each raises ``NotFoundError`` (404) naming what was looked for.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agentical.db.details import select_execution_detail
from agentical.db.errors import NotFoundError
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStepExecution,
    PlaybookTemplate,
)

T = TypeVar("T")


def _one(session: Session, statement: Select[T], missing: str, *names: str) -> T:
    """The first row of ``statement``; ``NotFoundError(missing)`` without one, also for a
    name holding a NUL, which no stored text has (and PostgreSQL refuses in a query)."""
    if any("\x00" in name for name in names):
        raise NotFoundError(missing)
    found = session.scalars(statement.limit(1)).first()
    if found is None:
        raise NotFoundError(missing)
    return found


def find_playbook(
    session: Session, name: str, version: int | None = None, *, full: bool = False
) -> Playbook:
    """The active playbook called ``name``: ``version``, else its latest version. ``full``
    loads its steps and variables with it (``Playbook.select_full``: no query after)."""
    statement = Playbook.select_full() if full else select(Playbook)
    statement = statement.where(Playbook.name == name, Playbook.is_active.is_(True))
    if version is not None:
        statement = statement.where(Playbook.version == version)
    suffix = "" if version is None else f" version {version}"
    missing = f"no playbook named {name!r}{suffix}"
    return _one(session, statement.order_by(Playbook.version.desc()), missing, name)


def find_template(session: Session, name: str) -> PlaybookTemplate:
    """The newest active template called ``name``."""
    statement = (
        select(PlaybookTemplate)
        .where(PlaybookTemplate.name == name, PlaybookTemplate.is_active.is_(True))
        .order_by(PlaybookTemplate.id.desc())
    )
    return _one(session, statement, f"no template named {name!r}", name)


def find_execution(
    session: Session, execution_id: str, *, detail: bool = False
) -> PlaybookExecution:
    """``detail`` loads what ``execution_detail`` shows with it."""
    statement = select_execution_detail() if detail else select(PlaybookExecution)
    statement = statement.where(PlaybookExecution.execution_id == execution_id)
    return _one(session, statement, f"no execution {execution_id!r}", execution_id)


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
    return _one(session, statement, missing, execution_id, step_name)
