"""The documented history queries are served by indexes (PostgreSQL's planner decides).

A scaled-down history (8,000 executions, 32,000 step executions) plus ``ANALYZE`` is
enough for the planner to prefer the indexes; ``make bench`` checks the same plans with
100,000 executions and 1,000,000 step executions. At that volume ``most_failing_steps``
still reads step executions by index but finds a playbook's executions with a Seq Scan
(1% of rows spread over every page): no existing index covers ``(playbook_id, id)``.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookExecution
from tests.perf.plans import (
    describe,
    documented_queries,
    explain,
    seq_scans_on_big_tables,
    tables_read_by_index,
)
from tests.perf.seed import seed_history_postgresql


@pytest.fixture
def history(database: str, session: Session) -> tuple[Connection, int, int]:
    """``(connection, playbook_id, failed execution id)`` over a seeded, analysed history."""
    if database != "postgresql":
        pytest.skip("query plans are PostgreSQL's; the queries run on every database elsewhere")
    connection = session.connection()
    seed_history_postgresql(connection, playbooks=100, executions=8_000, steps=4)
    playbook_id = connection.scalar(select(func.min(PlaybookExecution.playbook_id)))
    execution_id = connection.scalar(
        select(func.min(PlaybookExecution.id)).where(PlaybookExecution.status == "failed")
    )
    assert playbook_id is not None
    assert execution_id is not None
    return connection, playbook_id, execution_id


INDEXED = {
    "executions_by_status": "playbook_executions",
    "failed_executions": "playbook_executions",
    "running_executions": "playbook_executions",
    "step_executions_in_order": "playbook_step_executions",
    "most_failing_steps": "playbook_step_executions",
}


def test_history_queries_read_the_big_tables_through_indexes(
    history: tuple[Connection, int, int],
) -> None:
    connection, playbook_id, execution_id = history
    queries = documented_queries(playbook_id, execution_id)
    assert set(queries) == set(INDEXED)
    for name, table in INDEXED.items():
        plan = explain(connection, queries[name])
        assert not seq_scans_on_big_tables(plan), f"{name}: {describe(plan)}"
        assert table in tables_read_by_index(plan), f"{name}: {describe(plan)}"
