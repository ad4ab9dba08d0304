"""definition snapshots: each distinct definition stored once, executions point at it

Every execution carried a full copy of its definition (2.5 to 3 KB for the examples).
``definition_snapshots`` holds each distinct document once, keyed by its content hash,
and ``playbook_executions.snapshot_id`` points at it (ON DELETE RESTRICT: retention
removes a snapshot only when no execution points at it any more).

The data moves in batches of executions (keyset by id), so a long history is never held
in memory: each batch's distinct hashes are looked up, the missing snapshots inserted,
and the batch's executions pointed at them. A snapshot stored without its hash gets one
here, computed as the library computes it (frozen below). ``downgrade`` copies each
execution's document back, in batches too, then drops the table.

MariaDB (and SQLite) commit DDL statement by statement: each step looks at the schema
first and the data steps only touch rows not done yet, so a run that stopped for any
reason can be run again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 17:00:00.000000
"""

import hashlib
import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import agentical.db.types
from agentical.db.migrate import needs_the_database
from agentical.db.sqlite_migrations import batch_alter_table_keeping_rows

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
TABLE = "definition_snapshots"
FOREIGN_KEY = "fk_playbook_executions_snapshot_id"
INDEX = "ix_playbook_executions_snapshot_id"
MARIADB_TABLE_OPTIONS: dict[str, Any] = {
    "mariadb_charset": "utf8mb4",
    "mariadb_collate": "utf8mb4_bin",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}


def _json(*, none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null, astext_type=sa.Text()), "postgresql"
    )


executions = sa.table(
    "playbook_executions",
    sa.column("id", sa.Integer()),
    sa.column("definition_snapshot", _json(none_as_null=True)),
    sa.column("definition_hash", sa.String(64)),
    sa.column("snapshot_id", sa.Integer()),
)
snapshots = sa.table(
    TABLE,
    sa.column("id", sa.Integer()),
    sa.column("uuid", sa.Uuid()),
    sa.column("content_hash", sa.String(64)),
    sa.column("document", _json()),
    sa.column("created_at", agentical.db.types.UTCDateTime()),
    sa.column("updated_at", agentical.db.types.UTCDateTime()),
    sa.column("is_active", sa.Boolean()),
)


def document_hash(document: Any) -> str:
    """The library's content hash at this revision: SHA-256 of the canonical JSON."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _columns() -> set[str]:
    return {
        column["name"] for column in sa.inspect(op.get_bind()).get_columns("playbook_executions")
    }


def _has_table() -> bool:
    return sa.inspect(op.get_bind()).has_table(TABLE)


def _create_table() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.Uuid(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.Column("created_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", agentical.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_definition_snapshots")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_definition_snapshots_content_hash")),
        sa.UniqueConstraint("uuid", name=op.f("uq_definition_snapshots_uuid")),
        **MARIADB_TABLE_OPTIONS,
    )


def _add_link() -> None:
    # The index first: MariaDB would otherwise make one of its own for the foreign key.
    with batch_alter_table_keeping_rows("playbook_executions") as batch:
        batch.add_column(sa.Column("snapshot_id", sa.Integer(), nullable=True))
        batch.create_index(INDEX, ["snapshot_id"], unique=False)
        batch.create_foreign_key(FOREIGN_KEY, TABLE, ["snapshot_id"], ["id"], ondelete="RESTRICT")


def _drop_link() -> None:
    # The foreign key first: MariaDB keeps the index while a foreign key needs it.
    with batch_alter_table_keeping_rows("playbook_executions") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch.drop_index(INDEX)
        batch.drop_column("snapshot_id")


def _snapshot_ids(connection: sa.Connection, documents: dict[str, Any]) -> dict[str, int]:
    """The ids of the snapshots of these hashes, inserting the ones not stored yet."""
    lookup = sa.select(snapshots.c.content_hash, snapshots.c.id).where(
        snapshots.c.content_hash.in_(documents)
    )
    found: dict[str, int] = {row.content_hash: row.id for row in connection.execute(lookup)}
    missing = [digest for digest in documents if digest not in found]
    if missing:
        now = agentical.db.types.utc_now()
        connection.execute(
            snapshots.insert(),
            [
                {
                    "uuid": uuid.uuid4(),
                    "content_hash": digest,
                    "document": documents[digest],
                    "created_at": now,
                    "updated_at": now,
                    "is_active": True,
                }
                for digest in missing
            ],
        )
        found.update({row.content_hash: row.id for row in connection.execute(lookup)})
    return found


def _move_snapshots() -> None:
    connection = op.get_bind()
    after = 0
    while True:
        rows = connection.execute(
            sa.select(
                executions.c.id, executions.c.definition_snapshot, executions.c.definition_hash
            )
            .where(
                executions.c.id > after,
                executions.c.snapshot_id.is_(None),
                executions.c.definition_snapshot.is_not(None),
            )
            .order_by(executions.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = rows[-1].id
        hashes = {
            row.id: row.definition_hash or document_hash(row.definition_snapshot) for row in rows
        }
        documents = {hashes[row.id]: row.definition_snapshot for row in rows}
        ids = _snapshot_ids(connection, documents)
        connection.execute(
            executions.update()
            .where(executions.c.id == sa.bindparam("execution_id"))
            .values(snapshot_id=sa.bindparam("snapshot"), definition_hash=sa.bindparam("digest")),
            [
                {"execution_id": row.id, "snapshot": ids[hashes[row.id]], "digest": hashes[row.id]}
                for row in rows
            ],
        )


def _restore_snapshots() -> None:
    """Each execution's document back on its row, copied by the database, by batches."""
    connection = op.get_bind()
    document = (
        sa.select(snapshots.c.document)
        .where(snapshots.c.id == executions.c.snapshot_id)
        .scalar_subquery()
    )
    after = 0
    while True:
        ids = connection.scalars(
            sa.select(executions.c.id)
            .where(executions.c.id > after, executions.c.snapshot_id.is_not(None))
            .order_by(executions.c.id)
            .limit(BATCH)
        ).all()
        if not ids:
            return
        after = ids[-1]
        connection.execute(
            executions.update().where(executions.c.id.in_(ids)).values(definition_snapshot=document)
        )


SNAPSHOTS_STEP = "Revision 0006 (each run's definition moved into a shared snapshot)"


def upgrade() -> None:
    needs_the_database(SNAPSHOTS_STEP, op.get_bind())
    if not _has_table():
        _create_table()
    columns = _columns()
    if "snapshot_id" not in columns:
        _add_link()
    if "definition_snapshot" in columns:
        _move_snapshots()
        with batch_alter_table_keeping_rows("playbook_executions") as batch:
            batch.drop_column("definition_snapshot")


def downgrade() -> None:
    needs_the_database(SNAPSHOTS_STEP, op.get_bind())
    columns = _columns()
    if "definition_snapshot" not in columns:
        with op.batch_alter_table("playbook_executions") as batch:
            batch.add_column(
                sa.Column("definition_snapshot", _json(none_as_null=True), nullable=True)
            )
    if "snapshot_id" in columns:
        _restore_snapshots()
        _drop_link()
    if _has_table():
        op.drop_table(TABLE)
