"""What migrations need from a SQLite connection: real transactions, and table rebuilds
that keep the rows pointing at the rebuilt table.

An Alembic batch operation rebuilds a table on SQLite: it copies the rows to a new table,
drops the old one and renames the new one. With foreign keys enforced, that ``DROP TABLE``
first deletes every row, and the deletion cascades: a rebuild of ``playbook_executions``
would delete every step execution. SQLite ignores ``PRAGMA foreign_keys`` inside a
transaction, so ``env.py`` switches enforcement off before the migrations' transactions
begin (``sqlite_migration``). pysqlite, for its part, begins a transaction only at the
first write: the ``CREATE TABLE`` of a rebuild would be committed at once, and a revision
that failed after it would leave a half-made table behind. So ``sqlite_migration`` also
begins each transaction itself.

A migration that rebuilds a table wraps the batch in ``rows_kept_through_rebuild``, which
switches enforcement off if ``env.py`` did not (a service's own ``env.py``), checks the
rows after the rebuild, and refuses the rebuild if SQLite will not while rows would be lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from alembic import op
from alembic.operations import BatchOperations
from alembic.util import CommandError
from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection

from agentical.db.migrate import needs_the_database
from agentical.db.sqlite import driver_sql, enforce_foreign_keys

# In the pool record's ``info``: enforcement was switched off here and is not back on yet.
FOREIGN_KEYS_SUSPENDED = "agentical.sqlite.foreign_keys_suspended"


def _enforce_again(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    if dbapi_connection is not None and record.info.pop(FOREIGN_KEYS_SUSPENDED, False):
        enforce_foreign_keys(dbapi_connection)


def _enforce_at_checkin(pool: Pool) -> None:
    """SQLite ignored the switch back on (the block left a transaction open): the
    connection gets it back when it returns to its pool, reset, before anyone else uses
    it. Listened for on this pool only, not on every checkin of every engine."""
    if not event.contains(pool, "checkin", _enforce_again):
        event.listen(pool, "checkin", _enforce_again)


def _enforced(dbapi_connection: PoolProxiedConnection) -> bool:
    return bool(driver_sql(dbapi_connection, "PRAGMA foreign_keys"))


@contextmanager
def _foreign_keys_suspended(connection: Connection) -> Iterator[bool]:
    """Enforcement off for the block if SQLite allows it now (no transaction open);
    yields whether it is. After the block it is back on, or, if the block left a
    transaction open, when the connection returns to its pool."""
    dbapi_connection = connection.connection
    if not _enforced(dbapi_connection):
        yield False
        return
    driver_sql(dbapi_connection, "PRAGMA foreign_keys=OFF")
    if _enforced(dbapi_connection):
        yield False
        return
    dbapi_connection.info[FOREIGN_KEYS_SUSPENDED] = True
    try:
        yield True
    finally:
        enforce_foreign_keys(dbapi_connection)
        if _enforced(dbapi_connection):
            dbapi_connection.info.pop(FOREIGN_KEYS_SUSPENDED, None)
        else:
            _enforce_at_checkin(connection.engine.pool)


def _begins_at_first_write(connection: Connection) -> bool:
    """pysqlite's own transaction handling: ``BEGIN`` before the first write only. (With
    ``isolation_level=None`` whoever made the engine emits ``BEGIN``, or nobody does.)"""
    driver_connection = connection.connection.driver_connection
    return getattr(driver_connection, "isolation_level", None) is not None


def _begin_now(connection: Connection) -> None:
    driver_connection = connection.connection.driver_connection
    if driver_connection is not None and not driver_connection.in_transaction:
        driver_sql(connection.connection, "BEGIN")


@contextmanager
def sqlite_migration(connection: Connection) -> Iterator[None]:
    """Around the migrations run on ``connection`` (a no-op on other databases): foreign
    keys not enforced, so no table rebuild cascades; each transaction begun on SQLite
    when SQLAlchemy begins it, so a failed revision leaves nothing behind. Enforcement is
    back on after the block, at the latest when the connection returns to its pool."""
    if connection.dialect.name != "sqlite":
        yield
        return
    with _foreign_keys_suspended(connection):
        if not _begins_at_first_write(connection):
            yield
            return
        event.listen(connection, "begin", _begin_now)
        try:
            if connection.in_transaction():  # the caller began it: SQLite has not yet
                _begin_now(connection)
            yield
        finally:
            event.remove(connection, "begin", _begin_now)


def _check_foreign_keys(connection: Connection, tables: Iterable[str]) -> None:
    """Inside the revision's transaction, after a rebuild with enforcement off: every row
    of ``tables`` must still satisfy its foreign keys, else the error rolls it back."""
    for table in tables:
        violation = connection.execute(text(f'PRAGMA foreign_key_check("{table}")')).first()
        if violation is not None:
            raise CommandError(
                f"a row of {violation[0]} would point at no row of {violation[2]} after "
                "this migration; it changed nothing"
            )


def _pointing_at(connection: Connection, table: str) -> dict[str, list[str]]:
    """The other tables with a foreign key to ``table``, with the columns of those keys."""
    inspector = inspect(connection)
    columns: dict[str, list[str]] = {}
    for name in inspector.get_table_names():
        for key in inspector.get_foreign_keys(name):
            if key["referred_table"] == table and name != table:
                columns.setdefault(name, []).extend(key["constrained_columns"])
    return columns


def _refuse_if_rows_would_go(connection: Connection, table: str) -> None:
    """With enforcement on, the rebuild's ``DROP TABLE`` deletes ``table``'s rows, and the
    rows pointing at them go (or lose their link) with them: refuse if there are any."""
    holding_rows = [
        name
        for name, columns in _pointing_at(connection, table).items()
        if connection.execute(
            text(
                f'SELECT 1 FROM "{name}" WHERE '
                + " OR ".join(f'"{column}" IS NOT NULL' for column in columns)
                + " LIMIT 1"
            )
        ).first()
        is not None
    ]
    if holding_rows:
        raise CommandError(
            f"this migration rebuilds the table {table} on SQLite, and with foreign keys "
            f"enforced that would delete or change the rows of {', '.join(holding_rows)} "
            "that reference it. SQLite cannot switch them off inside a transaction: run "
            "the migration on a connection with none open (`agentical db upgrade`, or "
            "`migrate.upgrade` on a new connection); a service's own env.py wraps its run "
            "in agentical.db.sqlite_migrations.sqlite_migration. This revision changed "
            "nothing."
        )


@contextmanager
def rows_kept_through_rebuild(connection: Connection, table: str) -> Iterator[None]:
    """Around a batch operation that rebuilds ``table`` on SQLite: its ``DROP TABLE`` must
    not delete or null the rows that reference it.

    Enforcement is off already (``env.py`` switched it off) or is switched off now, and the
    rows of ``table`` and of the tables pointing at it are checked after the rebuild; if
    SQLite refuses (a transaction was open before the migration began), the rebuild goes
    ahead only when no row references ``table``.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    needs_the_database(f"Rebuilding {table} on SQLite", connection)
    with _foreign_keys_suspended(connection) as suspended_now:
        off_by_us = suspended_now or connection.connection.info.get(FOREIGN_KEYS_SUSPENDED)
        if not off_by_us and _enforced(connection.connection):
            _refuse_if_rows_would_go(connection, table)
        yield
        if off_by_us:
            _check_foreign_keys(connection, [table, *_pointing_at(connection, table)])


@contextmanager
def batch_alter_table_keeping_rows(table: str, **options: Any) -> Iterator[BatchOperations]:
    """``op.batch_alter_table(table, **options)`` for a change that rebuilds ``table`` on
    SQLite, inside ``rows_kept_through_rebuild``."""
    with (
        rows_kept_through_rebuild(op.get_bind(), table),
        op.batch_alter_table(table, **options) as batch,
    ):
        yield batch
