"""Importing a definition as the next version of its name, safely under concurrency.

Two services importing one name at once must each get their own version. The unique
(name, version) index decides: an import whose version was just taken by another
transaction rolls back to a SAVEPOINT and tries again with the version after the latest,
so the caller's transaction survives and never sees a raw ``IntegrityError``. The latest
version is read fresh each time: SQLite imports take turns on its write lock; PostgreSQL
reads at READ COMMITTED; MariaDB reads with a share lock (a locking read sees rows
committed after the transaction's snapshot) and, for a session that has not begun yet,
at READ COMMITTED (no gap locks, so racing imports do not deadlock).

When the attempts run out, or the database ends the transaction to break a deadlock,
``ImportConflictError`` (a ``ConflictError``) says to retry the whole transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from agentical.db.audit import SYSTEM, AuditAction, current_actor, one_actor
from agentical.db.errors import ImportConflictError
from agentical.db.models.audit import AuditEntry, entry, playbook_subject, write_entries
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.builder import build_playbook
from agentical.db.models.playbook.locking import (
    begin_read_committed,
    is_mysql_family,
    take_sqlite_write_lock,
)
from agentical.db.models.playbook.playbook import Playbook
from agentical.db.observability import lifecycle_event
from agentical.db.schemas.definition import PlaybookDefinition

IMPORT_ATTEMPTS = 20
VERSION_INDEX = "ix_playbooks_name_version"
# How each database names the (name, version) index in a unique violation.
_VERSION_TAKEN_MARKERS = (VERSION_INDEX, "playbooks.name, playbooks.version")


def _latest_version(session: Session, name: str) -> int:
    query = select(func.max(Playbook.version)).where(Playbook.name == name)
    if is_mysql_family(session, Playbook):
        query = query.with_for_update(read=True)
    return session.scalar(query) or 0


def _version_taken(error: IntegrityError) -> bool:
    message = str(error.orig)
    return any(marker in message for marker in _VERSION_TAKEN_MARKERS)


def _add_as_next_version(session: Session, playbook: Playbook) -> None:
    for _attempt in range(IMPORT_ATTEMPTS):
        playbook.version = _latest_version(session, playbook.name) + 1
        try:
            with session.begin_nested():
                session.add(playbook)
                session.flush()
        except IntegrityError as error:
            if not _version_taken(error):
                raise
            continue
        except OperationalError as error:
            # MariaDB's deadlock victim: the whole transaction is gone, not just the savepoint.
            if getattr(error.orig, "args", (None,))[0] == 1213:
                raise ImportConflictError(playbook.name, "deadlock with another import") from None
            raise
        return
    raise ImportConflictError(
        playbook.name, f"version still taken after {IMPORT_ATTEMPTS} attempts"
    )


def import_definition(
    session: Session,
    definition: PlaybookDefinition | dict[str, Any],
    *,
    created_by: str | None = None,
    created_by_user_id: int | None = None,
    actor: str | None = None,
) -> Playbook:
    """Add the definition as a new playbook; if its name exists, as the next version.

    The previous versions are kept unchanged. The new playbook is added and flushed, with
    its row in the audit trail. ``actor`` (or ``created_by``, the same person), else the
    ``acting_as`` context, is its ``created_by`` and the trail's actor (``system`` if none).
    Racing imports of one name each get their own version (see the module docstring), or
    ``ImportConflictError`` when the database could not give one: retry the transaction.
    """
    created_by = one_actor(actor, created_by, "created_by") or current_actor()
    playbook = build_playbook(
        definition, created_by=created_by, created_by_user_id=created_by_user_id
    )
    begin_read_committed(session, Playbook)
    take_sqlite_write_lock(session, Playbook)
    _add_as_next_version(session, playbook)
    record_import(session, playbook, created_by)
    lifecycle_event(
        "playbook.imported",
        playbook_id=playbook.id,
        playbook_name=playbook.name,
        version=playbook.version,
    )
    return playbook


def record_import(session: Session, playbook: Playbook, actor: str | None, **details: Any) -> None:
    """The audit row of a playbook added from a definition (imported, or made from a
    template: ``details`` name it), in the session's transaction."""
    write_entries(
        connection_for(session, AuditEntry),
        [
            entry(
                AuditAction.IMPORT,
                actor or SYSTEM,
                to_status=str(playbook.status),
                details=details or None,
                **playbook_subject(playbook),
            )
        ],
    )
