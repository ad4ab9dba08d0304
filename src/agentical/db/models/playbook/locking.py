"""Row locks and write serialisation, the same way on PostgreSQL, MariaDB and SQLite.

PostgreSQL and MariaDB lock rows (``SELECT ... FOR UPDATE``); SQLite has no row locks, so
a caller that must decide under a lock takes the database's single write lock instead, by
starting its write transaction with a statement that writes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, false, update
from sqlalchemy.orm import Session

from agentical.db.models.playbook.binding import bind_for, connection_for

MYSQL_FAMILY = frozenset({"mysql", "mariadb"})


def dialect_name(session: Session, model: type[Any]) -> str:
    """The dialect of the database ``session`` keeps ``model`` in."""
    return bind_for(session, model).dialect.name


def is_mysql_family(session: Session, model: type[Any]) -> bool:
    return dialect_name(session, model) in MYSQL_FAMILY


def begin_read_committed(session: Session, model: type[Any]) -> None:
    """Open the session's transaction at READ COMMITTED on PostgreSQL and MariaDB.

    ``SKIP LOCKED`` under MariaDB's default REPEATABLE READ skips far more than the locked
    rows (InnoDB locks every row it scans), and a row-count decided under a lock must see
    rows committed after the transaction began. A transaction already in progress (or a
    session bound to a connection) keeps its level: it cannot be changed mid-transaction.
    """
    bind = bind_for(session, model)
    if bind.dialect.name == "sqlite" or session.in_transaction() or not isinstance(bind, Engine):
        return
    connection_for(session, model, isolation_level="READ COMMITTED")


def take_sqlite_write_lock(session: Session, model: type[Any]) -> None:
    """On SQLite, start the write transaction now (a no-op UPDATE), so that the reads that
    follow are not overtaken by another writer; a second writer waits for our commit."""
    if dialect_name(session, model) == "sqlite":
        table = model.__table__
        # On the connection: an ORM statement would first run the session's queued writes.
        connection_for(session, model).execute(update(table).where(false()).values(id=table.c.id))
