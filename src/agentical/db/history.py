"""Execution history: the documented queries, and a streamed JSON-lines export.

Each query function returns a ``select()``: run it with ``session.scalars(...)`` (or
``session.execute(...)`` for the aggregate), add ``limit``/``offset`` or more criteria.
Every one of them is served by an index (of migrations 0001 and 0003) on a history of any
size (``tests/db/test_query_plans.py`` checks the plans on PostgreSQL):

| function | index |
| --- | --- |
| ``executions_by_status`` | ``ix_playbook_executions_playbook_id_status_created_at`` |
| ``failed_executions`` | ``ix_playbook_executions_status_created_at`` |
| ``running_executions`` | ``ix_playbook_executions_status_created_at`` |
| ``step_executions_in_order`` | ``ix_playbook_step_executions_execution_id_order`` |
| ``most_failing_steps`` | ``ix_playbook_executions_playbook_id_status_created_at``, then
  ``ix_playbook_step_executions_execution_id_status`` |
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import IO

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, StepStatus
from agentical.db.models.playbook import (
    PlaybookExecution,
    PlaybookExecutionRead,
    PlaybookStepExecution,
    PlaybookVariable,
)


def executions_by_status(
    playbook_id: int, status: ExecutionStatus | None = None
) -> Select[PlaybookExecution]:
    """Executions of one playbook (optionally in one status), newest first."""
    statement = select(PlaybookExecution).where(PlaybookExecution.playbook_id == playbook_id)
    if status is not None:
        statement = statement.where(PlaybookExecution.status == status)
    return statement.order_by(PlaybookExecution.created_at.desc(), PlaybookExecution.id.desc())


def failed_executions(
    since: datetime, until: datetime, *, playbook_id: int | None = None
) -> Select[PlaybookExecution]:
    """Failed executions created in ``[since, until)``, newest first, across playbooks or
    for one."""
    statement = select(PlaybookExecution).where(
        PlaybookExecution.status == ExecutionStatus.FAILED,
        PlaybookExecution.created_at >= since,
        PlaybookExecution.created_at < until,
    )
    if playbook_id is not None:
        statement = statement.where(PlaybookExecution.playbook_id == playbook_id)
    return statement.order_by(PlaybookExecution.created_at.desc(), PlaybookExecution.id.desc())


def running_executions() -> Select[PlaybookExecution]:
    """Executions running now, across every playbook, oldest first (the likeliest stuck)."""
    return (
        select(PlaybookExecution)
        .where(PlaybookExecution.status == ExecutionStatus.RUNNING)
        .order_by(PlaybookExecution.created_at, PlaybookExecution.id)
    )


def step_executions_in_order(execution_id: int) -> Select[PlaybookStepExecution]:
    """The step executions of one execution (its integer ``id``), in step order."""
    return (
        select(PlaybookStepExecution)
        .where(PlaybookStepExecution.playbook_execution_id == execution_id)
        .order_by(PlaybookStepExecution.step_order, PlaybookStepExecution.id)
    )


def most_failing_steps(
    playbook_id: int, *, limit: int = 10, since: datetime | None = None
) -> Select[str, int]:
    """``(step_name, failures)`` rows: the steps of a playbook that failed most, most first.

    Grouped by the step name each step execution keeps, so runs of a step deleted since
    still count. ``since`` keeps only executions created from then on.
    """
    failures = func.count(PlaybookStepExecution.id).label("failures")
    statement = (
        select(PlaybookStepExecution.step_name, failures)
        .join(PlaybookStepExecution.execution)
        .where(
            PlaybookExecution.playbook_id == playbook_id,
            PlaybookStepExecution.status == StepStatus.FAILED,
        )
    )
    if since is not None:
        statement = statement.where(PlaybookExecution.created_at >= since)
    return (
        statement.group_by(PlaybookStepExecution.step_name)
        .order_by(failures.desc(), PlaybookStepExecution.step_name)
        .limit(limit)
    )


def _secret_names_by_playbook(session: Session) -> dict[int, set[str]]:
    names: dict[int, set[str]] = {}
    rows = session.execute(
        select(PlaybookVariable.playbook_id, PlaybookVariable.variable_name).where(
            PlaybookVariable.is_sensitive.is_(True)
        )
    )
    for playbook_id, variable_name in rows:
        names.setdefault(playbook_id, set()).add(variable_name)
    return names


def _duration_seconds(started_at: datetime | None, completed_at: datetime | None) -> float | None:
    if started_at is None or completed_at is None:
        return None
    return (completed_at - started_at).total_seconds()


def iter_executions_jsonl(
    session: Session,
    statement: Select[PlaybookExecution] | None = None,
    *,
    batch_size: int = 1000,
) -> Iterator[str]:
    """Yield each execution as one line of JSON (the fields of ``to_dict()``, sensitive
    inputs masked, plus ``\\n``), streamed: memory stays flat for any number of rows.

    ``statement`` selects the executions (default: all, by id), e.g.
    ``failed_executions(since, until)``; its criteria, order and limit are kept. Rows are
    fetched ``batch_size`` at a time (``yield_per``: a server-side cursor on PostgreSQL and
    MariaDB) as plain rows of only the columns the read schema shows, not ORM objects, and
    the names of sensitive variables come from one query up front instead of one lazy
    load of each execution's playbook. Do not use ``session`` for other queries until the
    iteration ends: on MariaDB the open cursor holds the connection.
    """
    if statement is None:
        statement = select(PlaybookExecution).order_by(PlaybookExecution.id)
    fields = PlaybookExecutionRead.model_fields
    shown = [column for column in PlaybookExecution.__table__.columns if column.key in fields]
    # Before the stream opens: a connection busy with a server-side cursor takes no query.
    secret_names = _secret_names_by_playbook(session)
    rows = session.execute(
        statement.with_only_columns(*shown, maintain_column_froms=True),
        execution_options={"yield_per": batch_size},
    )
    no_secrets: set[str] = set()
    for row in rows:
        values = row._asdict()
        values["duration_seconds"] = _duration_seconds(values["started_at"], values["completed_at"])
        context = {"secret_names": secret_names.get(values["playbook_id"], no_secrets)}
        yield PlaybookExecutionRead.model_validate(values).model_dump_json(context=context) + "\n"


def export_executions_jsonl(
    session: Session,
    out: IO[str],
    statement: Select[PlaybookExecution] | None = None,
    *,
    batch_size: int = 1000,
) -> int:
    """Write ``iter_executions_jsonl`` to ``out``; return the number of executions written."""
    written = 0
    for line in iter_executions_jsonl(session, statement, batch_size=batch_size):
        out.write(line)
        written += 1
    return written
