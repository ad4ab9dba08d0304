"""The rows people name: a playbook by name (its latest version unless one is asked
for), the latest version of every playbook, a template by name; and a new playbook from
a template, only under a name no playbook has.

The CLI and the API call these, so a name means the same thing on both; each surface adds
only its own way of telling the user (a hint, a status code).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from agentical.db.audit import current_actor
from agentical.db.errors import ConflictError, NotFoundError
from agentical.db.models.playbook import Playbook, PlaybookTemplate
from agentical.db.models.playbook.importing import record_import

T = TypeVar("T")


def first_or_missing(session: Session, statement: Select[T], missing: str, *names: str) -> T:
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
    return first_or_missing(session, statement.order_by(Playbook.version.desc()), missing, name)


def latest_versions(statement: Select[Playbook] | None = None) -> Select[Playbook]:
    """Active playbooks, each at its latest version: ``statement`` (``select(Playbook)``
    by default; ``Playbook.select_full()`` to load steps and variables) narrowed to them."""
    latest = (
        select(Playbook.name, func.max(Playbook.version).label("version"))
        .where(Playbook.is_active.is_(True))
        .group_by(Playbook.name)
        .subquery()
    )
    statement = select(Playbook) if statement is None else statement
    return statement.join(
        latest, and_(Playbook.name == latest.c.name, Playbook.version == latest.c.version)
    )


def find_template(session: Session, name: str, version: str | None = None) -> PlaybookTemplate:
    """The active template called ``name``: ``version``, else the newest one created."""
    statement = select(PlaybookTemplate).where(
        PlaybookTemplate.name == name, PlaybookTemplate.is_active.is_(True)
    )
    if version is not None:
        statement = statement.where(PlaybookTemplate.version == version)
    suffix = "" if version is None else f" version {version!r}"
    missing = f"no template named {name!r}{suffix}"
    names = (name,) if version is None else (name, version)
    return first_or_missing(
        session, statement.order_by(PlaybookTemplate.id.desc()), missing, *names
    )


class PlaybookNameTakenError(ConflictError):
    """A template is instantiated only under a new name: a playbook has this one."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a playbook named {name!r} already exists")


def instantiate_template(
    session: Session, template: PlaybookTemplate, name: str, *, created_by: str | None = None
) -> Playbook:
    """A new playbook from ``template``, added and flushed, with its row in the audit trail
    (an ``import`` whose details name the template); ``PlaybookNameTakenError`` if a
    playbook (of any version, active or not) is called ``name``. ``created_by`` defaults
    to the ``acting_as`` context's actor."""
    name = name.strip()
    exists = select(Playbook.id).where(Playbook.name == name).limit(1)
    with session.no_autoflush:
        if "\x00" not in name and session.scalar(exists) is not None:
            raise PlaybookNameTakenError(name)
    created_by = created_by or current_actor()
    playbook = template.create_playbook(name, created_by=created_by)
    session.add(playbook)
    session.flush()
    record_import(
        session,
        playbook,
        created_by,
        template_name=template.name,
        template_version=template.version,
    )
    return playbook
