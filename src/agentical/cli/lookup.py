"""Find playbooks and templates by the names users type."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import NotFoundError, Playbook, PlaybookTemplate

T = TypeVar("T")


def _first(session: Session, query: Select[T], what: str, name: str, version: Any) -> T:
    found = session.scalars(query.limit(1)).first()
    if found is None:
        suffix = "" if version is None else f" version {version}"
        raise NotFoundError(f"no {what} named '{name}'{suffix}: see `agentical {what} list`")
    return found


def find_playbook(session: Session, name: str, version: int | None = None) -> Playbook:
    """The active playbook called ``name``: ``version``, else its latest version."""
    query = select(Playbook).where(Playbook.name == name.strip(), Playbook.is_active.is_(True))
    if version is not None:
        query = query.where(Playbook.version == version)
    return _first(session, query.order_by(Playbook.version.desc()), "playbook", name, version)


def find_template(session: Session, name: str, version: str | None = None) -> PlaybookTemplate:
    """The active template called ``name``: ``version``, else the newest one created."""
    query = select(PlaybookTemplate).where(
        PlaybookTemplate.name == name, PlaybookTemplate.is_active.is_(True)
    )
    if version is not None:
        query = query.where(PlaybookTemplate.version == version)
    return _first(session, query.order_by(PlaybookTemplate.id.desc()), "template", name, version)


def playbook_exists(session: Session, name: str) -> bool:
    query = select(Playbook.id).where(Playbook.name == name.strip()).limit(1)
    return session.scalar(query) is not None
