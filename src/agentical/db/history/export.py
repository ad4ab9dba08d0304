"""A streamed JSON-lines export of executions, sensitive inputs masked."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from typing import IO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import PlaybookExecution, PlaybookExecutionRead
from agentical.db.models.playbook.binding import connection_for
from agentical.db.models.playbook.secret_names import StoredSecretNames


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
    which inputs are secret is read up front (``StoredSecretNames``) instead of loading
    each execution's snapshot and playbook. Do not use ``session`` for other queries until
    the iteration ends: on MariaDB the open cursor holds the connection.
    """
    if statement is None:
        statement = select(PlaybookExecution).order_by(PlaybookExecution.id)
    fields = PlaybookExecutionRead.model_fields
    shown = [column for column in PlaybookExecution.__table__.columns if column.key in fields]
    # Before the stream opens: a connection busy with a server-side cursor takes no query.
    secret_names = StoredSecretNames.read(connection_for(session, PlaybookExecution))
    snapshot_id = PlaybookExecution.snapshot_id.label("agentical_snapshot_id")
    rows = session.execute(
        statement.with_only_columns(*shown, snapshot_id, maintain_column_froms=True),
        execution_options={"yield_per": batch_size},
    )
    try:
        for row in rows:
            values = row._asdict()
            secrets = secret_names.of(values["playbook_id"], values.pop(snapshot_id.name))
            values["duration_seconds"] = _duration_seconds(
                values["started_at"], values["completed_at"]
            )
            read = PlaybookExecutionRead.model_validate(values)
            yield read.model_dump_json(context={"secret_names": secrets}) + "\n"
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
