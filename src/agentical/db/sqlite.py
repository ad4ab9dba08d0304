"""SQLite enforces foreign keys only when asked, per connection.

The listener is registered on every ``Engine`` as soon as the models are imported, so
``ON DELETE CASCADE`` / ``SET NULL`` also hold on a plain ``create_engine("sqlite://")``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry


def is_sqlite_connection(dbapi_connection: Any) -> bool:
    # The module check covers pysqlite and the aiosqlite adapter alike.
    return "sqlite" in type(dbapi_connection).__module__


@event.listens_for(Engine, "connect")
def _enable_foreign_keys(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    if not is_sqlite_connection(dbapi_connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()
