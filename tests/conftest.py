"""Fixtures shared by the whole suite: every database test runs on SQLite, PostgreSQL and
MariaDB. A server that does not answer is a skip locally and a failure when ``CI`` is set.

``AGENTICAL_TEST_DATABASES=sqlite`` (comma-separated) narrows a local run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from agentical.db.testing.databases import (
    SERVER_URLS,
    migrated_engine,
    rollback_session,
    temporary_database,
    unreachable_reason,
)

ALL_DATABASES = ("sqlite", "postgresql", "mariadb")
DATABASES = tuple(
    name
    for name in os.environ.get("AGENTICAL_TEST_DATABASES", ",".join(ALL_DATABASES)).split(",")
    if name
)


def require_server(name: str) -> str | None:
    """The admin URL of database server ``name`` (``None`` for SQLite); skip or fail if down."""
    server = SERVER_URLS.get(name)
    if server is None:
        return None
    reason = unreachable_reason(server)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs every database: {reason}")
        pytest.skip(reason)
    return server


@pytest.fixture(scope="session", params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """The name of the database under test: ``sqlite``, ``postgresql`` or ``mariadb``."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def db_engine(database: str) -> Iterator[Engine]:
    with temporary_database(require_server(database)) as url, migrated_engine(url) as engine:
        yield engine


@pytest.fixture
def session(db_engine: Engine) -> Iterator[Session]:
    with rollback_session(db_engine) as session:
        yield session


@pytest.fixture
def fresh_session(session: Session) -> Iterator[Callable[[], Session]]:
    """Open another session on the same transaction: an empty identity map, so every
    attribute is read back from the database.

    Use it as ``with fresh_session() as other:``: a fresh session still open when the main
    session commits again would lose its SAVEPOINT ("no such savepoint" at teardown).
    """
    opened: list[Session] = []

    def open_session() -> Session:
        other = Session(bind=session.connection(), join_transaction_mode="create_savepoint")
        opened.append(other)
        return other

    yield open_session
    for other in opened:
        other.close()
