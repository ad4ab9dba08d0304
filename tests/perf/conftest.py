"""``make bench``: benchmarks on SQLite and, when it answers, PostgreSQL.

Each benchmark adds a row to ``RESULTS``; the table is printed at the end of the run and
written to ``tests/perf/results.json``. Timing ratios live here only, never in ``make test``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from agentical.db.testing.databases import (
    SERVER_URLS,
    migrated_engine,
    temporary_database,
    unreachable_reason,
)
from tests.perf.history_db import seeded_history
from tests.perf.report import Results

RESULTS = Results(rows=[])
BENCH_DATABASES = ("sqlite", "postgresql")


@pytest.fixture(scope="session", params=BENCH_DATABASES)
def bench_database(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    server = SERVER_URLS.get(name)
    if server is not None:
        reason = unreachable_reason(server)
        if reason is not None:
            pytest.skip(reason)
    return name


@pytest.fixture(scope="session")
def bench_engine(bench_database: str) -> Iterator[Engine]:
    """A throw-away database built by the migrations (a temporary file for SQLite)."""
    with (
        temporary_database(SERVER_URLS.get(bench_database)) as url,
        migrated_engine(url) as engine,
    ):
        yield engine


@pytest.fixture(scope="session")
def history_template(bench_database: str) -> Iterator[str]:
    """PostgreSQL: the URL of the seeded history (``tests/perf/history_db.py``), built once
    per run; benches take a copy of it (``copy_of``), never write to it."""
    if bench_database != "postgresql":
        pytest.skip("the history of 1,000,000 step executions is seeded on PostgreSQL")
    with seeded_history(SERVER_URLS[bench_database]) as url:
        yield url


@pytest.fixture(scope="session")
def results() -> Results:
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS.rows:
        return
    RESULTS.write()
    terminalreporter.write_line("")
    for line in RESULTS.table().splitlines():
        terminalreporter.write_line(line)
    missed = [row for row in RESULTS.rows if not row.met]
    terminalreporter.write_line("")
    terminalreporter.write_line(
        f"{len(RESULTS.rows) - len(missed)}/{len(RESULTS.rows)} targets met; "
        f"results in {RESULTS_PATH_TEXT}"
    )


RESULTS_PATH_TEXT = "tests/perf/results.json"
