"""Fixtures for the tests that need a migrated database of their own (asyncio engines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agentical.db.testing.databases import migrated_engine, temporary_database
from tests.conftest import require_server

ASYNC_DATABASES = ["sqlite", "postgresql"]  # the drivers of the `async` extra


@pytest.fixture
def migrated_url(database: str, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own, committed to for real, dropped afterwards."""
    server = require_server(database)
    if server is None:
        url = f"sqlite:///{tmp_path / 'async.db'}"
        with migrated_engine(url):
            yield url
        return
    with temporary_database(server) as url, migrated_engine(url):
        yield url
