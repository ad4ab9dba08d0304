"""SQLite enforces foreign keys only when asked, per connection.

The listener is registered on every ``Engine`` as soon as the models are imported, so
``ON DELETE CASCADE`` / ``SET NULL`` also hold on a plain ``create_engine("sqlite://")``.
A migration may switch enforcement off (``sqlite_migrations``); a connection gets it back
before it returns to its pool.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, Pool

# In the pool record's ``info``: enforcement was switched off here and is not back on yet.
FOREIGN_KEYS_SUSPENDED = "agentical.sqlite.foreign_keys_suspended"


def is_sqlite_connection(dbapi_connection: Any) -> bool:
    # The module check covers pysqlite and the aiosqlite adapter alike.
    return "sqlite" in type(dbapi_connection).__module__


def driver_sql(dbapi_connection: Any, statement: str) -> Any:
    """Run ``statement`` on the driver's connection, its first value back (``None`` if it
    returns no row): pragmas set per connection, before SQLAlchemy begins anything."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else row[0]


def _enforce(dbapi_connection: Any) -> None:
    driver_sql(dbapi_connection, "PRAGMA foreign_keys=ON")


@event.listens_for(Engine, "connect")
def _enable_foreign_keys(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if is_sqlite_connection(dbapi_connection):
        _enforce(dbapi_connection)


@event.listens_for(Pool, "checkin")
def _enforce_again_after_a_migration(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    """A migration whose transaction was still open when it ended could not switch
    enforcement back on (SQLite would ignore it): the connection gets it back here, reset,
    before anyone else can use it."""
    if dbapi_connection is not None and record.info.pop(FOREIGN_KEYS_SUSPENDED, False):
        _enforce(dbapi_connection)
