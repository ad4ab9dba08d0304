"""Engine and session factories for synchronous and asyncio code.

Importing this module imports the models, which registers the SQLite foreign-key pragma on
every new connection (pysqlite and aiosqlite alike). Async sessions never expire on commit:
reading an attribute after ``commit()`` would otherwise be an implicit (forbidden) load.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy
import sqlalchemy.ext.asyncio
from sqlalchemy import Engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

import agentical.db.models  # noqa: F401  (registers the tables and the SQLite pragma)
from agentical.db.log_redaction import drop_result_rows, redact_engine_logging
from agentical.db.sqlite import driver_sql

DATABASE_URL_VARIABLE = "AGENTICAL_DATABASE_URL"
# Several processes (workers) share one SQLite file: a writer waits this long for the
# write lock instead of failing at once with "database is locked".
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
DEFAULT_DATABASE_URL = "sqlite:///agentical.db"

# The asyncio driver for each backend, used when a URL names no driver or a sync one.
_ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_SYNC_DRIVERS = {"aiosqlite": "pysqlite", "asyncpg": "psycopg"}
# PostgreSQL's default level, asked of MariaDB (and MySQL) too; see ``_server_options``.
_MYSQL_FAMILY = ("mysql", "mariadb")


def database_url(url: str | URL | None = None) -> str:
    """``url``, else ``AGENTICAL_DATABASE_URL``, else an SQLite file in the current folder."""
    if url is not None:
        return url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    return os.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL


def async_url(url: str | URL) -> URL:
    """The same database with an asyncio driver (``postgresql://`` -> ``postgresql+asyncpg``)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = _ASYNC_DRIVERS.get(backend)
    if driver is None or parsed.get_driver_name() in _SYNC_DRIVERS:
        return parsed
    return parsed.set(drivername=f"{backend}+{driver}")


def sync_url(url: str | URL) -> URL:
    """The same database with a blocking driver (the inverse of ``async_url``)."""
    parsed = make_url(url)
    driver = _SYNC_DRIVERS.get(parsed.get_driver_name())
    if driver is None:
        return parsed
    return parsed.set(drivername=f"{parsed.get_backend_name()}+{driver}")


def _server_options(parsed: URL, options: dict[str, Any]) -> None:
    """``pool_pre_ping``; on MariaDB and MySQL, transactions at READ COMMITTED, as on
    PostgreSQL, unless ``isolation_level`` says otherwise.

    At REPEATABLE READ (their default) a transaction reads its first snapshot until it
    ends: an operator's cancel that loaded a run before one of its steps finished would
    lock that step's row as unfinished, and deadlock with the worker ending the run.
    """
    options.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() in _MYSQL_FAMILY:
        options.setdefault("isolation_level", "READ COMMITTED")


def create_engine(url: str | URL | None = None, **options: Any) -> Engine:
    """A blocking engine on ``database_url(url)``: on servers with ``pool_pre_ping`` (and
    READ COMMITTED on MariaDB, see ``_server_options``), on an SQLite file with a busy
    timeout and the write-ahead log (several processes share it).

    SQL parameters and result rows stay out of logs and exception messages: they carry
    variable values, secrets included (see ``log_redaction``).
    """
    redact_engine_logging(options)
    parsed = sync_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        _server_options(parsed, options)
        # Looked up at call time, so instrumentation that wraps it (Logfire's) sees our engines.
        return drop_result_rows(sqlalchemy.create_engine(parsed, **options))
    connect_args = options.setdefault("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    engine = drop_result_rows(sqlalchemy.create_engine(parsed, **options))
    if parsed.database not in (None, "", ":memory:"):
        event.listen(engine, "connect", _write_ahead_log)
    return engine


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """WAL: readers never block the writer nor wait for it, so worker processes on one
    file queue only for the write lock (which the busy timeout waits for)."""
    driver_sql(dbapi_connection, "PRAGMA journal_mode=WAL")


def create_async_engine(url: str | URL | None = None, **options: Any) -> AsyncEngine:
    """An asyncio engine on ``database_url(url)``, switching to the asyncio driver.

    Values stay out of logs and exception messages, as with ``create_engine``.
    """
    redact_engine_logging(options)
    parsed = async_url(database_url(url))
    if parsed.get_backend_name() != "sqlite":
        _server_options(parsed, options)
    engine = sqlalchemy.ext.asyncio.create_async_engine(parsed, **options)
    drop_result_rows(engine.sync_engine)
    return engine


def session_factory(engine: Engine, **options: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, **options)


def async_session_factory(engine: AsyncEngine, **options: Any) -> async_sessionmaker[AsyncSession]:
    options.setdefault("expire_on_commit", False)
    return async_sessionmaker(bind=engine, **options)
