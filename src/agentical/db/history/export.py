"""A streamed JSON-lines export of executions, sensitive inputs masked."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import IO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import (
    PlaybookExecution,
    PlaybookExecutionRead,
    PlaybookVariable,
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
) -> Generator[str, None, None]:
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
    try:
        for row in rows:
            values = row._asdict()
            values["duration_seconds"] = _duration_seconds(
                values["started_at"], values["completed_at"]
            )
            context = {"secret_names": secret_names.get(values["playbook_id"], no_secrets)}
            yield (
                PlaybookExecutionRead.model_validate(values).model_dump_json(context=context) + "\n"
            )
    finally:
        rows.close()  # a consumer that stops early (an error, ``close()``) frees the cursor


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
