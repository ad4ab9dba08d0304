"""Throw-away databases for test runs, built by the real migrations.

Each run gets its own database (a temporary SQLite file, or a uniquely named database on a
PostgreSQL or MariaDB server) and drops it afterwards, so parallel runs never meet.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from agentical.db.migrate import upgrade

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


@contextmanager
def temporary_database(server_url: str | None) -> Iterator[str]:
    """Yield the URL of a new, empty database; drop it afterwards.

    ``server_url`` is any database on a PostgreSQL or MariaDB server (used to issue
    ``CREATE DATABASE``); ``None`` means a temporary SQLite file.
    """
    if server_url is None:
        with tempfile.TemporaryDirectory(prefix="agentical-") as directory:
            yield f"sqlite:///{Path(directory) / 'test.db'}"
        return
    name = f"agentical_test_{os.getpid()}_{secrets.token_hex(4)}"
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
    url: str, make_engine: Callable[[str], Engine] = create_test_engine
) -> Iterator[Engine]:
    """An engine on ``url`` (made by ``make_engine``) whose schema the migrations have
    just built; disposed of on exit."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            upgrade(connection)
        yield engine
    finally:
        engine.dispose()


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
