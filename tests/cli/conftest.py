"""Run the ``agentical`` app in-process against a database of its own."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agentical.cli.main import app
from agentical.db.testing.databases import migrated_engine, temporary_database
from tests.conftest import require_server

Invoke = Callable[..., Result]


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


@pytest.fixture
def sqlite_url(sqlite_file: Path) -> str:
    return f"sqlite:///{sqlite_file}"


@pytest.fixture
def server_url(database: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind under test (a new SQLite file, or a server database)."""
    if database == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    with temporary_database(require_server(database)) as url:
        yield url


def invoker(url: str) -> Invoke:
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0) -> Result:
        # Wide enough that Rich never wraps a table cell the assertions look for; no
        # LOGFIRE_TOKEN, or the CLI would configure Logfire and send spans from the tests.
        environment = {"COLUMNS": "200", "LOGFIRE_TOKEN": None}
        result = runner.invoke(app, ["--database-url", url, *args], env=environment)
        assert result.exit_code == expect, (result.exit_code, result.output, result.exception)
        return result

    return invoke


@pytest.fixture
def cli(sqlite_url: str) -> Invoke:
    """``cli("db", "upgrade")`` runs ``agentical --database-url <new SQLite file> db upgrade``."""
    return invoker(sqlite_url)


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    with migrated_engine(f"sqlite:///{path}"):
        return path


@pytest.fixture
def migrated_cli(cli: Invoke, sqlite_file: Path, migrated_sqlite_file: Path) -> Invoke:
    """``cli`` on a copy of an SQLite file migrated once per run (``db upgrade`` has its
    own tests)."""
    shutil.copyfile(migrated_sqlite_file, sqlite_file)
    return cli
