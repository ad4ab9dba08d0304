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
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from agentical.db.models.base import BaseModel, table_args, table_of
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.locking import MYSQL_FAMILY, take_sqlite_write_lock
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

    @classmethod
    def of(cls, document: dict[str, Any], digest: str) -> DefinitionSnapshot:
        """A snapshot of a document the library built (``snapshot_of``: JSON-ready by
        construction), given without the assignment check that would serialise a
        10,000-step document once more for every run."""
        snapshot = cls(content_hash=digest)
        set_committed_value(snapshot, "document", document)
        return snapshot


def _insert_once(dialect: str, values: dict[str, Any]) -> Insert:
    """An INSERT that does nothing when the hash is already stored (a racing session)."""
    table = table_of(DefinitionSnapshot)
    if dialect == "postgresql":
        return postgresql.insert(table).values(values).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).values(values).on_conflict_do_nothing()
    statement = mysql.insert(table).values(values)
    return statement.on_duplicate_key_update(content_hash=statement.inserted.content_hash)


def _find(connection: Connection, digest: str, *, lock: bool) -> int | None:
    statement = select(DefinitionSnapshot.id).where(DefinitionSnapshot.content_hash == digest)
    # Share-locked until the transaction ends, retention cannot delete the snapshot before
    # the INSERT of the execution that points at it; on MariaDB a locking read also sees a
    # row committed after this transaction's snapshot was taken.
    return connection.scalar(
        statement.with_for_update(read=True, key_share=True) if lock else statement
    )


def _lock_row(connection: Connection, snapshot_id: int) -> int | None:
    """MariaDB: share-lock the snapshot's row itself. InnoDB locks only the index a read
    goes through, and the hash's index holds the id: the row would stay free for
    retention's DELETE, which would then wait for the hash's entry while the run's INSERT
    (whose foreign key check locks the row) waits for the DELETE, a deadlock."""
    statement = select(DefinitionSnapshot.id).where(DefinitionSnapshot.id == snapshot_id)
    return connection.scalar(statement.with_for_update(read=True))


ATTEMPTS = 3


def stored_snapshot(session: Session, document: dict[str, Any], digest: str) -> DefinitionSnapshot:
    """The stored snapshot of ``digest`` (``document``'s content hash), written if it is
    new: one indexed read when it exists (two on MariaDB). Two sessions storing the same
    new definition both succeed and share one row (the INSERT yields to the other's on the
    unique hash). Runs on the connection: no autoflush, so the run engine may call it from
    a flush."""
    connection = connection_for(session, DefinitionSnapshot)
    take_sqlite_write_lock(session, DefinitionSnapshot)
    # On MariaDB a locking read of a hash not stored yet locks the gap where it would go,
    # and two sessions storing the same new definition would deadlock on their INSERTs:
    # look first without a lock, and lock the row once it exists.
    mysql = connection.dialect.name in MYSQL_FAMILY
    snapshot_id: int | None = None
    for _attempt in range(ATTEMPTS):
        snapshot_id = _find(connection, digest, lock=not mysql)
        if snapshot_id is None:
            row = {"content_hash": digest, "document": document}
            connection.execute(_insert_once(connection.dialect.name, row))
            snapshot_id = _find(connection, digest, lock=True)
        if mysql and snapshot_id is not None:
            snapshot_id = _lock_row(connection, snapshot_id)
        if snapshot_id is not None:
            break  # else retention deleted it between the two reads: store it again
    if snapshot_id is None:
        raise RuntimeError(f"definition snapshot {digest} could not be stored")
    found = session.identity_map.get(identity_key(DefinitionSnapshot, snapshot_id))
    if isinstance(found, DefinitionSnapshot):
        if found.__dict__.get("content_hash", digest) == digest:
            return found
        # SQLite gives a new row the id of one deleted meanwhile (retention's sweep): the
        # session still holds that deleted snapshot under the id.
        session.expunge(found)
    # What was just written or read, without reading the document back.
    snapshot = DefinitionSnapshot.of(document, digest)
    snapshot.id = snapshot_id
    make_transient_to_detached(snapshot)
    session.add(snapshot)
    session.expire(snapshot, ["uuid", "created_at", "updated_at", "is_active"])
    return snapshot
