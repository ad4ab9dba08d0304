"""The ``agentical`` pytest plugin (entry point ``pytest11``), for suites that use our tables.

Fixtures, all prefixed ``agentical_``:

- ``agentical_database_url``: the database under test. ``--agentical-db-url`` or
  ``AGENTICAL_TEST_DATABASE_URL``; SQLite by default. A PostgreSQL or MariaDB URL names a
  server: the run gets its own throw-away database there, named after the
  ``agentical_db_prefix`` ini option (default ``agentical_test_``).
- ``agentical_migrate``: what builds the schema, given a connection: our migrations, then
  the service's (``agentical_alembic_config``: its alembic.ini, run with ``upgrade heads``).
  Override it in a ``conftest.py`` to build the schema any other way.
- ``agentical_engine``: an engine on it, built by ``agentical_migrate`` once per session.
- ``agentical_session``: a session per test, rolled back afterwards through a SAVEPOINT, even
  when the test commits.
- ``agentical_async_engine`` / ``agentical_async_session``: the same for asyncio (the async
  session fixture needs pytest-asyncio, or anyio's plugin).
- ``agentical_factories``: ``Factories`` bound to that session (playbooks with steps and
  variables, executions, templates, users).

Everything is imported lazily: a suite that never asks for a fixture pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

try:  # pytest-asyncio (any mode) runs it; without it, anyio's plugin runs plain fixtures.
    from pytest_asyncio import fixture as async_fixture
except ImportError:
    async_fixture = pytest.fixture  # type: ignore[assignment]

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
    from sqlalchemy.orm import Session

    from agentical.db.testing.factories import Factories

URL_OPTION = "--agentical-db-url"
URL_VARIABLE = "AGENTICAL_TEST_DATABASE_URL"
ALEMBIC_CONFIG_INI = "agentical_alembic_config"
PREFIX_INI = "agentical_db_prefix"

Migrate = Callable[["Connection"], None]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("agentical").addoption(
        URL_OPTION,
        dest="agentical_db_url",
        default=None,
        help=(
            f"database for the agentical_* fixtures (default: ${URL_VARIABLE}, else a "
            "temporary SQLite file); a server URL gets its own throw-away database"
        ),
    )
    parser.addini(
        ALEMBIC_CONFIG_INI,
        "the service's alembic.ini (relative to the rootdir): its `upgrade heads` runs on "
        "the test database after agentical's migrations",
        default="",
    )
    parser.addini(
        PREFIX_INI,
        "name prefix of the throw-away test databases (default: agentical_test_)",
        default="agentical_test_",
    )


@pytest.fixture(scope="session")
def agentical_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database for this test session, dropped at the end."""
    from sqlalchemy import make_url

    from agentical.db.testing.databases import check_prefix, temporary_database

    try:
        prefix = check_prefix(str(request.config.getini(PREFIX_INI)))
    except ValueError as error:
        raise pytest.UsageError(f"{PREFIX_INI}: {error}") from None
    given: str | None = request.config.getoption("agentical_db_url") or os.environ.get(URL_VARIABLE)
    if given is not None and make_url(given).get_backend_name() == "sqlite":
        yield given  # a file (or memory) the caller chose: used as it is
        return
    with temporary_database(given, prefix) as url:
        yield url


def _service_migrations(ini: Path) -> Migrate:
    def migrate(connection: Connection) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config(str(ini))
        config.attributes["connection"] = connection  # the service's env.py must honour it
        command.upgrade(config, "heads")

    return migrate


@pytest.fixture(scope="session")
def agentical_migrate(request: pytest.FixtureRequest) -> Migrate:
    """Build the schema on a connection: our migrations, then the service's, if configured."""
    from agentical.db.migrate import upgrade

    configured = str(request.config.getini(ALEMBIC_CONFIG_INI))
    if not configured:
        return upgrade
    ini = request.config.rootpath / configured
    if not ini.is_file():
        raise pytest.UsageError(f"{ALEMBIC_CONFIG_INI}: no file {ini}")
    service = _service_migrations(ini)

    def ours_then_the_services(connection: Connection) -> None:
        upgrade(connection)
        service(connection)

    return ours_then_the_services


@pytest.fixture(scope="session")
def agentical_engine(agentical_database_url: str, agentical_migrate: Migrate) -> Iterator[Engine]:
    """An engine whose schema ``agentical_migrate`` built, once per test session."""
    from agentical.db.testing.databases import create_test_engine, migrated_engine

    with migrated_engine(agentical_database_url, create_test_engine, agentical_migrate) as engine:
        yield engine


@pytest.fixture
def agentical_session(agentical_engine: Engine) -> Iterator[Session]:
    """A session whose work, committed or not, is rolled back after the test."""
    from agentical.db.testing.databases import rollback_session

    with rollback_session(agentical_engine) as session:
        yield session


@pytest.fixture(scope="session")
def agentical_async_engine(agentical_engine: Engine) -> Iterator[AsyncEngine]:
    """An asyncio engine on the migrated test database (asyncio driver, no pool)."""
    from agentical.db.testing.databases import create_async_test_engine

    url = agentical_engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise pytest.UsageError(
            "an in-memory SQLite database belongs to one connection, and the async fixtures "
            "open their own: give them a file (--agentical-db-url=sqlite:///path/test.db)"
        )
    engine = create_async_test_engine(url.render_as_string(hide_password=False))
    yield engine
    engine.sync_engine.dispose()


@async_fixture
async def agentical_async_session(
    agentical_async_engine: AsyncEngine,
) -> AsyncIterator[AsyncSession]:
    """An ``AsyncSession`` whose work, committed or not, is rolled back after the test."""
    from agentical.db.testing.databases import async_rollback_session

    async with async_rollback_session(agentical_async_engine) as session:
        yield session


@pytest.fixture
def agentical_factories(agentical_session: Session) -> Factories:
    """Build playbooks, executions, templates and users in ``agentical_session``."""
    from agentical.db.testing.factories import Factories

    return Factories(agentical_session)
