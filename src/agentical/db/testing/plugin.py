"""The ``agentical`` pytest plugin (entry point ``pytest11``), for suites that use our tables.

Fixtures, all prefixed ``agentical_``:

- ``agentical_database_url``: the database under test. ``--agentical-db-url`` or
  ``AGENTICAL_TEST_DATABASE_URL``; SQLite by default. A PostgreSQL or MariaDB URL names a
  server: the run gets its own throw-away database there.
- ``agentical_engine``: an engine on it, built by our migrations once per test session.
- ``agentical_session``: a session per test, rolled back afterwards through a SAVEPOINT, even
  when the test commits.
- ``agentical_factories``: ``Factories`` bound to that session (playbooks with steps and
  variables, executions, templates, users).

Everything is imported lazily: a suite that never asks for a fixture pays nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from agentical.db.testing.factories import Factories

URL_OPTION = "--agentical-db-url"
URL_VARIABLE = "AGENTICAL_TEST_DATABASE_URL"


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


@pytest.fixture(scope="session")
def agentical_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database for this test session, dropped at the end."""
    from sqlalchemy import make_url

    from agentical.db.testing.databases import temporary_database

    given: str | None = request.config.getoption("agentical_db_url") or os.environ.get(URL_VARIABLE)
    if given is not None and make_url(given).get_backend_name() == "sqlite":
        yield given  # a file (or memory) the caller chose: used as it is
        return
    with temporary_database(given) as url:
        yield url


@pytest.fixture(scope="session")
def agentical_engine(agentical_database_url: str) -> Iterator[Engine]:
    """An engine whose schema the agentical migrations built, once per test session."""
    from agentical.db.testing.databases import migrated_engine

    with migrated_engine(agentical_database_url) as engine:
        yield engine


@pytest.fixture
def agentical_session(agentical_engine: Engine) -> Iterator[Session]:
    """A session whose work, committed or not, is rolled back after the test."""
    from agentical.db.testing.databases import rollback_session

    with rollback_session(agentical_engine) as session:
        yield session


@pytest.fixture
def agentical_factories(agentical_session: Session) -> Factories:
    """Build playbooks, executions, templates and users in ``agentical_session``."""
    from agentical.db.testing.factories import Factories

    return Factories(agentical_session)
