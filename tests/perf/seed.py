"""Bulk test data for the query-count, query-plan and benchmark runs.

Rows go in through Core ``executemany`` (every database) or one ``INSERT ... SELECT`` over
``generate_series`` (PostgreSQL), never object by object: a million step executions load in
seconds. Columns a caller does not give take their model defaults, so a column added
later with a default needs no change here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnDefault,
    ColumnElement,
    Connection,
    Table,
    Uuid,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
)

from agentical.db.enums import ExecutionStatus, StepType, VariableType
from agentical.db.models.playbook import (
    Playbook,
    PlaybookExecution,
    PlaybookStep,
    PlaybookStepExecution,
    PlaybookVariable,
    step_dependencies,
)

HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
# One execution every 10 minutes: 100,000 executions cover about two years.
EXECUTION_SPACING = timedelta(minutes=10)

PLAYBOOKS: Table = Playbook.__table__  # type: ignore[assignment]
STEPS: Table = PlaybookStep.__table__  # type: ignore[assignment]
VARIABLES: Table = PlaybookVariable.__table__  # type: ignore[assignment]
EXECUTIONS: Table = PlaybookExecution.__table__  # type: ignore[assignment]
STEP_EXECUTIONS: Table = PlaybookStepExecution.__table__  # type: ignore[assignment]


STEP_PARAMETERS = {"target": "{{ var_0 }}"}


def chain(order: int) -> list[int]:
    """Step ``order`` depends on the one before it."""
    return [order - 1] if order > 1 else []


def insert_playbooks(
    connection: Connection,
    count: int,
    *,
    steps: int = 5,
    variables: int = 2,
    depends_on: Callable[[int], Iterable[int]] = chain,
) -> list[int]:
    """``count`` playbooks, each with ``steps`` steps (step n depends on the step orders
    ``depends_on(n)``, by default n-1) and ``variables`` variables (the last one
    sensitive); returns the playbook ids."""
    batch = uuid.uuid4().hex[:8]  # (name, version) is unique: names differ between calls
    playbook_ids = list(
        connection.scalars(
            insert(PLAYBOOKS).returning(PLAYBOOKS.c.id, sort_by_parameter_order=True),
            [
                {
                    "name": f"Playbook {batch}-{number}",
                    "category": "incident_response",
                    "description": "Restore service after an outage",
                    "tags": ["ops", "sev1"],
                    "success_criteria": ["Service restored"],
                }
                for number in range(count)
            ],
        )
    )
    if steps:
        # A plain executemany, the ids read back after: with RETURNING, SQLAlchemy sends
        # pages of 1,000 rows as one statement each, which psycopg parses anew every time
        # (seconds for 10,000 steps); without, psycopg pipelines one short statement.
        connection.execute(
            insert(STEPS),
            [
                {
                    "playbook_id": playbook_id,
                    "step_name": f"step_{order}",
                    "display_name": f"Step {order}",
                    "step_order": order,
                    "parameters": STEP_PARAMETERS,
                }
                for playbook_id in playbook_ids
                for order in range(1, steps + 1)
            ],
        )
        stored = connection.execute(
            select(STEPS.c.playbook_id, STEPS.c.step_order, STEPS.c.id).where(
                STEPS.c.playbook_id.in_(playbook_ids)
            )
        )
        step_id = {(row.playbook_id, row.step_order): row.id for row in stored}
        step_ids = [
            step_id[playbook_id, order]
            for playbook_id in playbook_ids
            for order in range(1, steps + 1)
        ]
        edges = [
            {
                "step_id": step_ids[start + order - 1],
                "depends_on_step_id": step_ids[start + dependency - 1],
            }
            for start in range(0, len(step_ids), steps)
            for order in range(1, steps + 1)
            for dependency in depends_on(order)
        ]
        if edges:
            connection.execute(insert(step_dependencies), edges)
    if variables:
        connection.execute(
            insert(VARIABLES),
            [
                {
                    "playbook_id": playbook_id,
                    "variable_name": f"var_{number}",
                    "variable_type": VariableType.STRING,
                    "default_value": "value",
                    "is_sensitive": number == variables - 1,
                }
                for playbook_id in playbook_ids
                for number in range(variables)
            ],
        )
    return playbook_ids


def execution_rows(playbook_id: int, count: int) -> list[dict[str, Any]]:
    """Rows for ``count`` finished executions of one playbook, for Core ``executemany``."""
    rows = []
    for number in range(count):
        started = HISTORY_START + number * EXECUTION_SPACING
        failed = number % 10 == 0
        rows.append(
            {
                "uuid": uuid.uuid4(),
                "execution_id": f"export-{playbook_id}-{number}",
                "playbook_id": playbook_id,
                "status": ExecutionStatus.FAILED if failed else ExecutionStatus.COMPLETED,
                "input_variables": {"service": "api", "region": "eu-west-1", "run": number},
                "output_variables": {"restored": not failed},
                "started_at": started,
                "completed_at": started + timedelta(seconds=90),
                "execution_time_seconds": 90.0,
                "progress_percentage": 100.0,
                "completed_steps": 5,
                "overall_success": not failed,
                "error_message": "step_3 timed out" if failed else None,
                "created_at": started,
                "updated_at": started + timedelta(seconds=90),
            }
        )
    return rows


def _series_values(
    table: Table, given: Mapping[str, ColumnElement[Any]]
) -> dict[str, ColumnElement[Any]]:
    """SQL for every column of ``table``: ``given``, else the column's default."""
    values: dict[str, ColumnElement[Any]] = {}
    for column in table.columns:
        if column.name in given:
            values[column.name] = given[column.name]
        elif column.primary_key:
            continue
        elif isinstance(column.type, Uuid):
            values[column.name] = func.gen_random_uuid()
        elif not isinstance(column.default, ColumnDefault):
            if not column.nullable:
                raise ValueError(f"{table.name}.{column.name} has no default: give a value")
        elif column.default.is_scalar:
            values[column.name] = literal(column.default.arg, column.type)
        else:
            if column.unique:
                raise ValueError(f"{table.name}.{column.name} is unique: give a value")
            sample = column.default.arg(None)
            is_time = isinstance(sample, datetime)
            values[column.name] = func.now() if is_time else literal(sample, column.type)
    return values


def _insert_from(
    connection: Connection,
    table: Table,
    source: str,
    given: Mapping[str, ColumnElement[Any]],
) -> None:
    """``INSERT INTO table SELECT ... FROM source``: ``given`` columns, defaults for the rest."""
    values = _series_values(table, given)
    connection.execute(
        insert(table).from_select(list(values), select(*values.values()).select_from(text(source)))
    )


def _sql(expression: str) -> ColumnElement[Any]:
    return literal_column(expression)


def _next_id(connection: Connection, table: Table) -> int:
    """The smallest id a row inserted into ``table`` from now on can have."""
    return int(connection.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1


def insert_independent_steps_postgresql(
    connection: Connection, playbook_id: int, *, steps: int, step_type: StepType
) -> None:
    """``steps`` steps of ``step_type``, none depending on another, added to a playbook as
    ``insert_playbooks`` writes its steps, but built server-side with ``generate_series``
    (tens of thousands in a second)."""
    _insert_from(
        connection,
        STEPS,
        f"generate_series(1, {int(steps)}) AS k(value)",
        {
            "playbook_id": literal(playbook_id, STEPS.c.playbook_id.type),
            "step_name": _sql("'step_' || k.value"),
            "display_name": _sql("'Step ' || k.value"),
            "step_order": _sql("k.value"),
            "step_type": literal(step_type, STEPS.c.step_type.type),
            "parameters": literal(STEP_PARAMETERS, STEPS.c.parameters.type),
        },
    )


def seed_history_postgresql(
    connection: Connection, *, playbooks: int, executions: int, steps: int
) -> None:
    """A history on PostgreSQL, built server-side with ``generate_series``.

    ``playbooks`` playbooks of ``steps`` chained steps; ``executions`` executions spread
    evenly over them and over time (10 minutes apart from 2024-01-01), each with one step
    execution per step. Statuses by execution number: 1% running, 1% pending, 3% cancelled,
    10% failed (one step failed, later ones skipped), the rest completed. Ends with
    ``ANALYZE``, so the planner knows the volumes.
    """
    playbooks, executions, steps = int(playbooks), int(executions), int(steps)
    # Only rows made here are used: the database may hold others.
    first_playbook = _next_id(connection, PLAYBOOKS)
    first_execution = _next_id(connection, EXECUTIONS)
    _insert_from(
        connection,
        PLAYBOOKS,
        f"generate_series(1, {playbooks}) AS g(value)",
        {
            "name": _sql(f"'Playbook ' || ({first_playbook} + g.value)"),
            "category": _sql("'incident_response'"),
        },
    )
    _insert_from(
        connection,
        STEPS,
        f"playbooks AS p CROSS JOIN generate_series(1, {steps}) AS k(value) "
        f"WHERE p.id >= {first_playbook}",
        {
            "playbook_id": _sql("p.id"),
            "step_name": _sql("'step_' || k.value"),
            "step_order": _sql("k.value"),
        },
    )
    connection.exec_driver_sql(
        "INSERT INTO playbook_step_dependencies (step_id, depends_on_step_id) "
        "SELECT s.id, prev.id FROM playbook_steps AS s JOIN playbook_steps AS prev "
        "ON prev.playbook_id = s.playbook_id AND prev.step_order = s.step_order - 1 "
        f"WHERE s.playbook_id >= {first_playbook}"
    )
    # Numbered per playbook, so that every playbook has executions in every status.
    run = f"(g.value / {playbooks} % 100)"
    status = (
        f"CASE WHEN {run} = 0 THEN 'running' WHEN {run} = 1 THEN 'pending' "
        f"WHEN {run} < 5 THEN 'cancelled' WHEN {run} < 15 THEN 'failed' ELSE 'completed' END"
    )
    created = (
        f"(TIMESTAMPTZ '{HISTORY_START.isoformat()}' "
        f"+ g.value * INTERVAL '{int(EXECUTION_SPACING.total_seconds())} seconds')"
    )
    _insert_from(
        connection,
        EXECUTIONS,
        f"generate_series(1, {executions}) AS g(value) JOIN "
        "(SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM playbooks "
        f"WHERE id >= {first_playbook}) AS p "
        f"ON p.n = g.value % {playbooks}",
        {
            "execution_id": _sql("'run-' || g.value"),
            "playbook_id": _sql("p.id"),
            "status": _sql(status),
            "started_at": _sql(f"CASE WHEN {run} = 1 THEN NULL ELSE {created} END"),
            # Finished runs (cancelled, failed, completed) ended 90 s after they began.
            "completed_at": _sql(
                f"CASE WHEN {run} >= 2 THEN {created} + INTERVAL '90 seconds' END"
            ),
            "created_at": _sql(created),
            "updated_at": _sql(created),
        },
    )
    failing = f"(e.id % {steps} + 1)"
    step_status = (
        "CASE e.status WHEN 'completed' THEN 'completed' WHEN 'pending' THEN 'pending' "
        f"WHEN 'failed' THEN CASE WHEN s.step_order < {failing} THEN 'completed' "
        f"WHEN s.step_order = {failing} THEN 'failed' ELSE 'skipped' END "
        f"WHEN 'running' THEN CASE WHEN s.step_order < {failing} THEN 'completed' "
        f"WHEN s.step_order = {failing} THEN 'running' ELSE 'pending' END "
        f"ELSE CASE WHEN s.step_order < {failing} THEN 'completed' ELSE 'skipped' END END"
    )
    step_created = "e.created_at + s.step_order * INTERVAL '1 minute'"
    _insert_from(
        connection,
        STEP_EXECUTIONS,
        "playbook_executions AS e JOIN playbook_steps AS s ON s.playbook_id = e.playbook_id "
        f"WHERE e.id >= {first_execution}",
        {
            "playbook_execution_id": _sql("e.id"),
            "playbook_step_id": _sql("s.id"),
            "step_name": _sql("s.step_name"),
            "step_order": _sql("s.step_order"),
            "step_type": _sql("s.step_type"),
            "status": _sql(step_status),
            "created_at": _sql(step_created),
            "updated_at": _sql(step_created),
        },
    )
    for table in (PLAYBOOKS, STEPS, step_dependencies, EXECUTIONS, STEP_EXECUTIONS):
        connection.exec_driver_sql(f"ANALYZE {table.name}")
