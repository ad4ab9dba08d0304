"""``DefinitionSnapshot``: one stored copy of each distinct definition an execution ran.

Executions point at the snapshot of the definition they were created with
(``PlaybookExecution.snapshot``), as Airflow 3's runs point at their ``dag_version``: a
definition run 100,000 times is stored once. A snapshot is keyed by the content hash of
its document (``document_hash``: canonical JSON, sensitive defaults redacted), so every
playbook row that produces the same document shares it, and it never changes once
written. Retention (``history.purge_executions``) removes those no execution points at.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert, String, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, make_transient_to_detached, mapped_column
from sqlalchemy.orm.util import identity_key

from agentical.db.models.base import BaseModel, table_args
from agentical.db.models.playbook.binding import connection_for
from agentical.db.schemas.playbook import DefinitionSnapshotRead
from agentical.db.types import json_type


class DefinitionSnapshot(BaseModel):
    """A definition document as an execution runs it, stored once per content hash."""

    __tablename__ = "definition_snapshots"
    __read_schema__ = DefinitionSnapshotRead
    __table_args__ = table_args()

    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The file form of ``PlaybookDefinition.to_document`` (or, for rows that are not a
    # valid definition, the raw rows): read only through ``agentical.db.plan``.
    document: Mapped[dict[str, Any]] = mapped_column(json_type())


def _insert_once(dialect: str, values: dict[str, Any]) -> Insert:
    """An INSERT that does nothing when the hash is already stored (a racing session)."""
    table = DefinitionSnapshot.__table__
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).values(values).on_conflict_do_nothing()
    statement = mysql.insert(table).values(values)
    return statement.on_duplicate_key_update(content_hash=statement.inserted.content_hash)


def _find(connection: Connection, digest: str) -> int | None:
    # Share-locked until the transaction ends: retention cannot delete the snapshot
    # between this read and the INSERT of the execution that points at it; on MariaDB a
    # locking read also sees a row committed after this transaction's snapshot was taken.
    return connection.scalar(
        select(DefinitionSnapshot.id)
        .where(DefinitionSnapshot.content_hash == digest)
        .with_for_update(read=True, key_share=True)
    )


def stored_snapshot(session: Session, document: dict[str, Any], digest: str) -> DefinitionSnapshot:
    """The stored snapshot of ``digest`` (``document``'s content hash), written if it is
    new: one indexed read when it exists. Two sessions storing the same new definition
    both succeed and share one row (the INSERT yields to the other's on the unique hash).
    Runs on the connection: no autoflush, so the run engine may call it from a flush."""
    connection = connection_for(session, DefinitionSnapshot)
    snapshot_id = _find(connection, digest)
    if snapshot_id is None:
        row = {"content_hash": digest, "document": document}
        connection.execute(_insert_once(connection.dialect.name, row))
        snapshot_id = _find(connection, digest)
        assert snapshot_id is not None, "a snapshot was inserted or found"
    found = session.identity_map.get(identity_key(DefinitionSnapshot, snapshot_id))
    if isinstance(found, DefinitionSnapshot):
        return found
    # What was just written or read, without reading the document back.
    snapshot = DefinitionSnapshot(id=snapshot_id, content_hash=digest, document=document)
    make_transient_to_detached(snapshot)
    session.add(snapshot)
    session.expire(snapshot, ["uuid", "created_at", "updated_at", "is_active"])
    return snapshot
