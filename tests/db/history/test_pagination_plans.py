"""Page N+1 costs what page 1 costs at 100,000 executions: no sort, and a bounded range of
index entries whatever the depth (PostgreSQL's EXPLAIN ANALYZE; rows counted, not time)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, Select, func, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.history import (
    encode_cursor,
    execution_counts_by_status,
    executions_by_status,
    page_statement,
    recent_executions,
)
from agentical.db.models.playbook import PlaybookExecution
from tests.perf.plans import (
    _nodes,
    describe,
    explain,
    seq_scans_on_big_tables,
    tables_read_by_index,
)
from tests.perf.seed import seed_history_postgresql

EXECUTIONS = 100_000
PLAYBOOKS = 10  # 10,000 runs each
LIMIT = 50
DEEP = 5_000  # the cursor of page 101


@pytest.fixture
def history(database: str, session: Session) -> tuple[Session, int]:
    if database != "postgresql":
        pytest.skip("query plans are PostgreSQL's; the pages are tested on every database")
    seed_history_postgresql(
        session.connection(), playbooks=PLAYBOOKS, executions=EXECUTIONS, steps=1
    )
    playbook_id = session.scalar(select(func.min(PlaybookExecution.playbook_id)))
    assert playbook_id is not None
    return session, playbook_id


def rows_read(plan: Any) -> int:
    """Rows the scans of ``plan`` returned, over every loop."""
    return sum(
        int(node["Actual Rows"]) * int(node.get("Actual Loops", 1))
        for node in _nodes(plan["Plan"])
        if "Scan" in node["Node Type"]
    )


def rows_examined(plan: Any) -> int:
    """``rows_read`` and the rows its scans read and filtered out."""
    return rows_read(plan) + sum(
        int(node.get("Rows Removed by Filter", 0)) * int(node.get("Actual Loops", 1))
        for node in _nodes(plan["Plan"])
        if "Scan" in node["Node Type"]
    )


def shape(plan: Any) -> list[tuple[str, str | None]]:
    return [(node["Node Type"], node.get("Index Name")) for node in _nodes(plan["Plan"])]


def deep_cursor(session: Session, statement: Select[PlaybookExecution]) -> str:
    execution = session.scalars(statement.offset(DEEP - 1).limit(1)).one()
    return encode_cursor(execution)


@pytest.mark.parametrize("status", [None, ExecutionStatus.COMPLETED])
def test_a_deep_page_reads_what_the_first_reads_never_the_rows_before_it(
    history: tuple[Session, int], status: ExecutionStatus | None
) -> None:
    session, playbook_id = history
    connection: Connection = session.connection()
    statement = executions_by_status(playbook_id, status)

    first = explain(connection, page_statement(statement, limit=LIMIT), analyze=True)
    cursor = deep_cursor(session, statement)
    deep = explain(connection, page_statement(statement, cursor=cursor, limit=LIMIT), analyze=True)
    by_offset = explain(connection, statement.offset(DEEP).limit(LIMIT + 1), analyze=True)

    # With ten playbooks, the planner may read one playbook's page from its own index or
    # from the newest runs of every playbook (``ix_playbook_executions_created_at``,
    # filtering out the others' few hundred), and may choose differently for page 1 and
    # page 101 (both seen). Either way no page sorts, and every page examines a bounded
    # index range, at most the page's width for each playbook, never the rows before it.
    bound = 2 * PLAYBOOKS * (LIMIT + 1)
    for page in (first, deep):
        assert "Sort" not in {node for node, _index in shape(page)}, describe(page)
        assert rows_examined(page) <= bound, describe(page)
    assert not seq_scans_on_big_tables(deep)
    assert rows_read(first) == rows_read(deep) == LIMIT + 1
    # The measure tells the two apart: OFFSET reads every row it skips.
    assert rows_read(by_offset) > DEEP


def test_every_playbooks_runs_page_through_one_index_range_at_any_depth(
    history: tuple[Session, int],
) -> None:
    session, _playbook_id = history
    connection: Connection = session.connection()
    statement = recent_executions()

    first = explain(connection, page_statement(statement, limit=LIMIT), analyze=True)
    cursor = deep_cursor(session, statement)
    deep = explain(connection, page_statement(statement, cursor=cursor, limit=LIMIT), analyze=True)

    assert shape(deep) == shape(first), f"{describe(first)} / {describe(deep)}"
    assert ("Index Scan", "ix_playbook_executions_created_at") in shape(first), describe(first)
    assert "Sort" not in {node for node, _index in shape(first)}, describe(first)
    assert not seq_scans_on_big_tables(deep)
    assert rows_read(first) == rows_read(deep) == LIMIT + 1


def test_counts_by_status_read_an_index(history: tuple[Session, int]) -> None:
    session, playbook_id = history

    plan = explain(session.connection(), execution_counts_by_status(playbook_id))

    assert not seq_scans_on_big_tables(plan), describe(plan)
    assert "playbook_executions" in tables_read_by_index(plan), describe(plan)
