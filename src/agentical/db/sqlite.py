"""SQLite enforces foreign keys only when asked, per connection.

The listener is registered on every ``Engine`` as soon as the models are imported, so
``ON DELETE CASCADE`` / ``SET NULL`` also hold on a plain ``create_engine("sqlite://")``.
A migration may switch enforcement off (``sqlite_migrations``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry


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


def enforce_foreign_keys(dbapi_connection: Any) -> None:
    driver_sql(dbapi_connection, "PRAGMA foreign_keys=ON")


@event.listens_for(Engine, "connect")
def _enable_foreign_keys(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if is_sqlite_connection(dbapi_connection):
        enforce_foreign_keys(dbapi_connection)
