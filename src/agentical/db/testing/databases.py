"""Throw-away databases for test runs, built by the real migrations.

Each run gets its own database (a temporary SQLite file, or a uniquely named database on a
PostgreSQL or MariaDB server) and drops it afterwards, so parallel runs never meet.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from agentical.db.migrate import upgrade
from agentical.db.session import create_async_engine

SERVER_URLS = {
    "postgresql": os.environ.get(
        "AGENTICAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "AGENTICAL_TEST_MARIADB_URL", "mariadb+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
    ),
}


def unreachable_reason(url: str) -> str | None:
    """Why the server at ``url`` cannot be used, or ``None`` when it answers."""
    engine = create_engine(url, pool_pre_ping=False)
    try:
        with engine.connect():
            return None
    except (SQLAlchemyError, OSError) as error:
        return f"{make_url(url).render_as_string(hide_password=True)} unreachable: {error}"
    finally:
        engine.dispose()


def _use_sqlite_savepoint_recipe(engine: Engine) -> None:
    """Let pysqlite nest SAVEPOINTs inside one outer transaction that is rolled back.

    pysqlite's own transaction handling would commit around SAVEPOINT; hand it to SQLAlchemy.
    """

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _explicit_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def create_test_engine(url: str, **options: Any) -> Engine:
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        _use_sqlite_savepoint_recipe(engine)
    return engine


DEFAULT_PREFIX = "agentical_test_"
_PREFIX = re.compile(r"[a-z][a-z0-9_]{0,29}")


def check_prefix(prefix: str) -> str:
    """A database name prefix: lower-case letters, digits and ``_``, at most 30 characters
    (the name must stay a plain identifier on PostgreSQL and MariaDB alike)."""
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(
            f"database name prefix {prefix!r}: use lower-case letters, digits and '_', "
            "starting with a letter, at most 30 characters"
        )
    return prefix


@contextmanager
def temporary_database(server_url: str | None, prefix: str = DEFAULT_PREFIX) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards.

    ``server_url`` is any database on a PostgreSQL or MariaDB server (used to issue
    ``CREATE DATABASE``); ``None`` means a temporary SQLite file. The database (or the
    SQLite file's folder) is named ``prefix`` plus the process id and a random suffix.
    """
    check_prefix(prefix)
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix=prefix) as directory:
            yield f"sqlite:///{Path(directory) / 'test.db'}"
        return
    name = f"{prefix}{os.getpid()}_{secrets.token_hex(4)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            drop = f"DROP DATABASE IF EXISTS {name}"
            if admin.dialect.name == "postgresql":
                drop += " WITH (FORCE)"
            with admin.connect() as connection:
                connection.exec_driver_sql(drop)
    finally:
        admin.dispose()


@contextmanager
def migrated_engine(
    url: str,
    make_engine: Callable[[str], Engine] = create_test_engine,
    migrate: Callable[[Connection], None] = upgrade,
) -> Iterator[Engine]:
    """An engine on ``url`` (made by ``make_engine``) whose schema ``migrate`` (our
    migrations by default) has just built; disposed of on exit."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            migrate(connection)
        yield engine
    finally:
        engine.dispose()


def create_async_test_engine(url: str) -> AsyncEngine:
    """An asyncio engine for tests: no pool, so that each test's event loop opens its own
    connections (asyncpg's belong to the loop that made them); SQLite nests SAVEPOINTs."""
    engine = create_async_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        _use_sqlite_savepoint_recipe(engine.sync_engine)
    return engine


@asynccontextmanager
async def async_rollback_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """``rollback_session`` for asyncio: an ``AsyncSession`` whose commits release
    SAVEPOINTs inside an outer transaction that is always rolled back."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@contextmanager
def rollback_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is always rolled back.

    The test may commit: its commits release SAVEPOINTs, never the outer transaction.
    """
    with engine.connect() as connection:
        transaction = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            transaction.rollback()
