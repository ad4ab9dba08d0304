"""``AuditEntry``: the append-only trail of operator and lifecycle actions.

One row per action: who (``actor``), what (``action``), on what (a playbook, an execution,
a step of it), the status before and after, the reason, and the request it came with. It
is written in the transaction of the action itself, so a committed action has its row and
a rolled-back one has none.

No foreign keys, on purpose: the trail must outlive what it speaks about. A purge deletes
executions (and records itself here), a playbook may be deleted, and a cascade or a
``SET NULL`` would erase or blank the rows that say what happened to them. So an entry
keeps public identifiers, the ones a person quotes: the execution's ``execution_id``, the
playbook's ``uuid``, with its name and version as they were. Integer ids are not kept:
SQLite hands the id of a deleted last row to the next one, and a new run would inherit the
trail of a purged one.

Not a ``BaseModel``: an entry is never updated or soft-deleted, so it has no
``updated_at``, ``is_active`` or ``uuid`` of its own. The library never changes a row, and
the ORM refuses to: flushing a changed or deleted entry, or an ORM ``update()`` /
``delete()`` of this table, raises ``AppendOnlyError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Index, String, Text, event, insert
from sqlalchemy.orm import Mapped, Mapper, ORMExecuteState, Session, mapped_column

from agentical.db.audit import AuditAction, current_request_id
from agentical.db.errors import ConflictError
from agentical.db.models.base import Base, table_args, table_of
from agentical.db.schemas.audit import AuditEntryRead
from agentical.db.types import json_type, str_enum, utc_now

STATUS_LENGTH = 32


class AppendOnlyError(ConflictError):
    """An audit entry cannot be changed or deleted."""


class AuditEntry(Base):
    """One action in the audit trail (see the module docstring)."""

    __tablename__ = "audit_entries"
    __table_args__ = table_args(
        # Newest first: across everything, per playbook (one version, or every version
        # by name), per execution, per actor.
        Index("ix_audit_entries_created_at", "created_at", "id"),
        Index("ix_audit_entries_playbook_uuid_created_at", "playbook_uuid", "created_at", "id"),
        Index("ix_audit_entries_playbook_name_created_at", "playbook_name", "created_at", "id"),
        Index("ix_audit_entries_execution_id_created_at", "execution_id", "created_at", "id"),
        Index("ix_audit_entries_actor_created_at", "actor", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[AuditAction] = mapped_column(str_enum(AuditAction, "action"))
    playbook_uuid: Mapped[uuid.UUID | None] = mapped_column(default=None)
    playbook_name: Mapped[str | None] = mapped_column(String(255), default=None)
    playbook_version: Mapped[int | None] = mapped_column(default=None)
    execution_id: Mapped[str | None] = mapped_column(String(64), default=None)
    step_name: Mapped[str | None] = mapped_column(String(100), default=None)
    from_status: Mapped[str | None] = mapped_column(String(STATUS_LENGTH), default=None)
    to_status: Mapped[str | None] = mapped_column(String(STATUS_LENGTH), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    request_id: Mapped[str | None] = mapped_column(String(255), default=None)
    details: Mapped[dict[str, Any]] = mapped_column(json_type(), default=dict)

    def to_dict(self) -> dict[str, Any]:
        return AuditEntryRead.model_validate(self).model_dump(mode="json")

    def __repr__(self) -> str:
        return f"<AuditEntry id={self.__dict__.get('id')}>"


def entry(
    action: AuditAction,
    actor: str,
    *,
    playbook_uuid: uuid.UUID | None = None,
    playbook_name: str | None = None,
    playbook_version: int | None = None,
    execution_id: str | None = None,
    step_name: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    reason: str | None = None,
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The values of one row (the request id of the context unless given). Never put an
    input value in ``reason`` or ``details``: the trail is not masked."""
    return {
        "created_at": created_at or utc_now(),
        "actor": actor,
        "action": action,
        "playbook_uuid": playbook_uuid,
        "playbook_name": playbook_name,
        "playbook_version": playbook_version,
        "execution_id": execution_id,
        "step_name": step_name,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "request_id": request_id if request_id is not None else current_request_id(),
        "details": dict(details or {}),
    }


def playbook_subject(playbook: Any) -> dict[str, Any]:
    """The columns that name a playbook in the trail (a ``Playbook``, or a row of its
    ``uuid``, ``name`` and ``version``)."""
    return {
        "playbook_uuid": playbook.uuid,
        "playbook_name": playbook.name,
        "playbook_version": playbook.version,
    }


def write_entries(connection: Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Insert rows built by ``entry`` on ``connection``: in its transaction, so with the
    action they record."""
    rows = list(rows)
    if rows:
        connection.execute(insert(table_of(AuditEntry)), rows)


def _refuse(_mapper: Mapper[Any], _connection: Connection, target: AuditEntry) -> None:
    raise AppendOnlyError(f"{target!r}: the audit trail is append-only")


event.listen(AuditEntry, "before_update", _refuse)
event.listen(AuditEntry, "before_delete", _refuse)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_changes(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ is AuditEntry:
        raise AppendOnlyError("audit_entries: the audit trail is append-only")
