"""Table rebuilds on SQLite that keep the rows pointing at the rebuilt table.

An Alembic batch operation rebuilds a table on SQLite: it copies the rows to a new table,
drops the old one and renames the new one. With foreign keys enforced, that ``DROP TABLE``
first deletes every row, and the deletion cascades: a rebuild of ``playbook_executions``
would delete every step execution. SQLite ignores ``PRAGMA foreign_keys`` inside a
transaction, so ``env.py`` switches enforcement off before the migrations' transaction
begins (``foreign_keys_suspended``); a migration that rebuilds a table wraps the batch in
``rows_kept_through_rebuild``, which switches it off if ``env.py`` did not (a service's own
``env.py``) and refuses the rebuild if SQLite will not while rows would be lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from alembic import op
from alembic.operations import BatchOperations
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

from agentical.db.sqlite import FOREIGN_KEYS_SUSPENDED


def _enforced(connection: Connection) -> bool:
    return bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())


@contextmanager
def foreign_keys_suspended(connection: Connection) -> Iterator[bool]:
    """SQLite's enforcement off for the block, if SQLite allows it now (no transaction
    open); yields whether it is. After the block it is back on, or, if the block left a
    transaction open, when the connection returns to its pool."""
    if connection.dialect.name != "sqlite" or not _enforced(connection):
        yield False
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if _enforced(connection):
        yield False
        return
    connection.connection.info[FOREIGN_KEYS_SUSPENDED] = True
    try:
        yield True
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        if _enforced(connection):
            connection.connection.info.pop(FOREIGN_KEYS_SUSPENDED, None)


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


def _referencing(connection: Connection, table: str) -> list[str]:
    """The tables whose rows a deletion of ``table``'s rows reaches, through their foreign
    keys and theirs in turn."""
    inspector = inspect(connection)
    parents = {
        name: {key["referred_table"] for key in inspector.get_foreign_keys(name)}
        for name in inspector.get_table_names()
    }
    reached: list[str] = []
    frontier = [table]
    while frontier:
        target = frontier.pop()
        for name, referred in parents.items():
            if target in referred and name not in reached and name != table:
                reached.append(name)
                frontier.append(name)
    return reached


def _refuse_if_rows_would_go(connection: Connection, table: str) -> None:
    holding_rows = [
        name
        for name in _referencing(connection, table)
        if connection.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None
    ]
    if holding_rows:
        raise CommandError(
            f"this migration rebuilds the table {table} on SQLite, and with foreign keys "
            f"enforced that would delete or change the rows of {', '.join(holding_rows)} "
            "that reference it. SQLite cannot switch them off inside a transaction: run "
            "the migration on a connection with none open (`agentical db upgrade`, or "
            "`migrate.upgrade` on a new connection); a service's own env.py wraps its run "
            "in agentical.db.sqlite_rebuilds.foreign_keys_suspended. This revision "
            "changed nothing."
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
    with foreign_keys_suspended(connection) as suspended_now:
        off_by_us = suspended_now or connection.connection.info.get(FOREIGN_KEYS_SUSPENDED)
        if not off_by_us and _enforced(connection):
            _refuse_if_rows_would_go(connection, table)
        yield
        if off_by_us:
            _check_foreign_keys(connection, [table, *_referencing(connection, table)])


@contextmanager
def batch_alter_table_keeping_rows(table: str) -> Iterator[BatchOperations]:
    """``op.batch_alter_table(table)`` for a change that rebuilds ``table`` on SQLite,
    inside ``rows_kept_through_rebuild``."""
    with (
        rows_kept_through_rebuild(op.get_bind(), table),
        op.batch_alter_table(table) as batch,
    ):
        yield batch
