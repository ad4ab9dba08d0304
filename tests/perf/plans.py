"""Read PostgreSQL query plans: which tables a statement scans, and how."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ClauseElement, Connection

from agentical.db import history
from agentical.db.enums import ExecutionStatus
from tests.perf.seed import HISTORY_START

BIG_TABLES = frozenset({"playbook_executions", "playbook_step_executions"})


@dataclass(frozen=True)
class Scan:
    node: str  # "Seq Scan", "Index Scan", "Bitmap Index Scan"...
    table: str | None
    index: str | None


def documented_queries(playbook_id: int, execution_id: int) -> dict[str, ClauseElement]:
    """Each documented history query, with arguments a busy history answers with few rows."""
    window_start = HISTORY_START + timedelta(days=30)
    return {
        "executions_by_status": history.executions_by_status(
            playbook_id, ExecutionStatus.COMPLETED
        ).limit(50),
        "failed_executions": history.failed_executions(
            window_start, window_start + timedelta(days=7)
        ),
        "running_executions": history.running_executions(),
        "step_executions_in_order": history.step_executions_in_order(execution_id),
        "most_failing_steps": history.most_failing_steps(playbook_id),
    }


def explain(connection: Connection, statement: ClauseElement, *, analyze: bool = False) -> Any:
    """The JSON plan of ``statement`` (run when ``analyze``), bound values inlined."""
    sql = statement.compile(connection, compile_kwargs={"literal_binds": True})
    options = "ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON"
    return connection.exec_driver_sql(f"EXPLAIN ({options}) {sql}").scalar_one()[0]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from _nodes(child)


def scans(plan: Any) -> list[Scan]:
    """Every node of ``plan`` that reads a table or an index."""
    return [
        Scan(node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in _nodes(plan["Plan"])
        if "Scan" in node["Node Type"] and node["Node Type"] != "Subquery Scan"
    ]


def seq_scans_on_big_tables(plan: Any) -> list[str]:
    return [
        scan.table
        for scan in scans(plan)
        if scan.node == "Seq Scan" and scan.table in BIG_TABLES and scan.table is not None
    ]


def describe(plan: Any) -> str:
    """``Index Scan ix_... on table; Seq Scan on table`` for a table row."""
    parts = []
    for scan in scans(plan):
        if scan.index is not None:
            parts.append(f"{scan.node} {scan.index}")
        elif scan.table is not None:
            parts.append(f"{scan.node} on {scan.table}")
    return "; ".join(parts)


INDEX_ACCESS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan"})


def tables_read_by_index(plan: Any) -> set[str]:
    """Tables that ``plan`` reads through an index (a bitmap heap scan follows an index)."""
    return {
        scan.table for scan in scans(plan) if scan.node in INDEX_ACCESS and scan.table is not None
    }
