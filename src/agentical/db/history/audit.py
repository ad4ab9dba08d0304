"""Reading the audit trail: one newest-first query, narrowed as asked, pageable.

Each narrowing has its index, ``(column, created_at, id)``: a playbook (one version by
the object, every version by its name), an execution (the object or its public
``execution_id``), an actor; with none, ``(created_at, id)``. ``page_of`` pages it by
keyset like the execution queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from agentical.db.audit import AuditAction
from agentical.db.errors import InvalidInputError
from agentical.db.models.audit import AuditEntry
from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.types import aware_utc


def _actions(action: AuditAction | str | Iterable[AuditAction | str]) -> list[AuditAction]:
    given = [action] if isinstance(action, str) else list(action)
    try:
        return [AuditAction(value) for value in given]
    except ValueError:
        options = ", ".join(member.value for member in AuditAction)
        raise InvalidInputError(f"action must be one of: {options}; got {action!r}") from None


def audit_trail(
    *,
    playbook: Playbook | str | None = None,
    execution: PlaybookExecution | str | None = None,
    actor: str | None = None,
    action: AuditAction | str | Iterable[AuditAction | str] | None = None,
    since: datetime | None = None,
) -> Select[AuditEntry]:
    """Audit entries, newest first: of a playbook (a ``Playbook``: that version; a name:
    every version), of an execution (a ``PlaybookExecution`` or its ``execution_id``), by
    an actor, of one action or several, from ``since`` on."""
    statement = select(AuditEntry)
    criteria: list[Any] = []
    if isinstance(playbook, Playbook):
        criteria.append(AuditEntry.playbook_uuid == playbook.uuid)
    elif playbook is not None:
        criteria.append(AuditEntry.playbook_name == playbook)
    if isinstance(execution, PlaybookExecution):
        criteria.append(AuditEntry.execution_id == execution.execution_id)
    elif execution is not None:
        criteria.append(AuditEntry.execution_id == execution)
    if actor is not None:
        criteria.append(AuditEntry.actor == actor)
    if action is not None:
        criteria.append(AuditEntry.action.in_(_actions(action)))
    if since is not None:
        if not isinstance(since, datetime) or since.utcoffset() is None:
            raise InvalidInputError(f"since must be an aware datetime, got {since!r}")
        criteria.append(AuditEntry.created_at >= aware_utc("since", since))
    return statement.where(*criteria).order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
