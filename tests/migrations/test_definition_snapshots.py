"""Migration 0006 on a populated database: every execution's snapshot moves to one row
per distinct definition, in batches, and ``downgrade`` puts each one back as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.orm import Session

from agentical.db.migrate import downgrade, upgrade
from agentical.db.models.base import column_defaults
from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.models.playbook.builder import snapshot_of
from agentical.db.schemas.definition import document_hash
from agentical.db.session import create_engine
from agentical.db.testing.databases import temporary_database
from agentical.db.testing.factories import make_playbook, make_variable
from agentical.db.types import json_type
from tests.conftest import require_server

BEFORE = "0005"
# More than two of the migration's batches of 500.
EXECUTIONS = 1203


def table_at_0005() -> sa.TableClause:
    """``playbook_executions`` as revision 0005 has it: a snapshot on every row."""
    model: sa.Table = PlaybookExecution.__table__  # type: ignore[assignment]
    columns = [sa.column(c.name, c.type) for c in model.columns if c.name != "snapshot_id"]
    snapshot = sa.column("definition_snapshot", json_type(nullable_as_sql_null=True))
    return sa.table("playbook_executions", *columns, snapshot)


def documents(playbook: Playbook) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Snapshots as executions held them: two versions of a definition with their hash,
    raw rows stored without one, and none at all."""
    first, first_hash = snapshot_of(playbook)
    playbook.description = "Second version"
    second, second_hash = snapshot_of(playbook)
    raw = {"name": "raw rows", "steps": [{"step_name": "a", "parameters": {"ü": 1.5}}]}
    return [(first, first_hash), (second, second_hash), (raw, None), (None, None)]


@pytest.fixture
def populated(database: str) -> Iterator[tuple[Engine, dict[int, Any]]]:
    """A database at 0005 whose executions hold snapshots; with the raw stored value of
    each execution's snapshot by execution id."""
    with temporary_database(require_server(database)) as url:
        engine = create_engine(url)  # a deployment's: SQLite rebuilds need no open BEGIN
        try:
            with engine.begin() as connection:
                upgrade(connection)
            with Session(engine) as session:
                playbook = make_playbook(session, steps=3, variables=[make_variable()])
                session.commit()
                kinds = documents(playbook)
                playbook_id = playbook.id
            with engine.begin() as connection:
                downgrade(connection, BEFORE)
                rows = []
                for index in range(EXECUTIONS):
                    document, digest = kinds[index % len(kinds)]
                    row = column_defaults(sa.inspect(PlaybookExecution), {"snapshot_id"})
                    row.update(
                        playbook_id=playbook_id,
                        execution_id=f"run-{index}",
                        definition_snapshot=document,
                        definition_hash=digest,
                    )
                    rows.append(row)
                connection.execute(table_at_0005().insert(), rows)
                stored = raw_snapshots(connection)
            yield engine, stored
        finally:
            engine.dispose()


def raw_snapshots(connection: Connection) -> dict[int, Any]:
    """Each execution's snapshot column as the database returns it (text on SQLite and
    MariaDB, so a byte-for-byte comparison; a parsed value from PostgreSQL's JSONB)."""
    statement = sa.text("SELECT id, definition_snapshot FROM playbook_executions")
    return {row[0]: row[1] for row in connection.execute(statement)}


def columns(connection: Connection) -> set[str]:
    return {column["name"] for column in inspect(connection).get_columns("playbook_executions")}


def parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def test_upgrade_stores_each_distinct_snapshot_once_and_points_every_execution_at_it(
    populated: tuple[Engine, dict[int, Any]],
) -> None:
    engine, before = populated
    with engine.begin() as connection:
        upgrade(connection)

    with engine.connect() as connection:
        assert "definition_snapshot" not in columns(connection)
        snapshots = connection.execute(
            sa.text("SELECT id, content_hash, document FROM definition_snapshots")
        ).all()
        assert len(snapshots) == 3
        by_id = {row.id: (row.content_hash, parsed(row.document)) for row in snapshots}
        executions = connection.execute(
            sa.text("SELECT id, snapshot_id, definition_hash FROM playbook_executions")
        ).all()
    assert len(executions) == EXECUTIONS
    for execution in executions:
        original = parsed(before[execution.id])
        if original is None:
            assert execution.snapshot_id is None
            continue
        digest, document = by_id[execution.snapshot_id]
        assert document == original
        assert digest == execution.definition_hash == document_hash(original)


def test_the_library_plans_a_migrated_execution_from_its_stored_snapshot(
    populated: tuple[Engine, dict[int, Any]],
) -> None:
    engine, before = populated
    with engine.begin() as connection:
        upgrade(connection)
    first = min(before)
    with Session(engine) as session:
        execution = session.get_one(PlaybookExecution, first)
        assert execution.snapshot is not None
        assert execution.snapshot.document == parsed(before[first])
        assert execution.to_dict()["input_variables"] == {}


def test_downgrade_puts_every_snapshot_back_as_it_was(
    populated: tuple[Engine, dict[int, Any]],
) -> None:
    engine, before = populated
    with engine.begin() as connection:
        upgrade(connection)
    with engine.begin() as connection:
        downgrade(connection, BEFORE)

    with engine.connect() as connection:
        assert not inspect(connection).has_table("definition_snapshots")
        assert "snapshot_id" not in columns(connection)
        assert raw_snapshots(connection) == before

    with engine.begin() as connection:
        upgrade(connection)  # and forward again: the round trip repeats
    with engine.connect() as connection:
        count = connection.scalar(sa.text("SELECT COUNT(*) FROM definition_snapshots"))
        assert count == 3


def test_an_upgrade_stopped_after_the_first_batch_can_be_run_again(
    populated: tuple[Engine, dict[int, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, before = populated
    calls = 0
    original = Connection.execute

    def failing_after_one_batch(self: Connection, statement: Any, *args: Any, **kw: Any) -> Any:
        nonlocal calls
        table = statement.table if isinstance(statement, sa.Update) else None
        if isinstance(table, sa.TableClause) and table.name == "playbook_executions":
            calls += 1
            if calls == 2:
                raise RuntimeError("the server went away")
        return original(self, statement, *args, **kw)

    monkeypatch.setattr(Connection, "execute", failing_after_one_batch)
    # PostgreSQL and SQLite roll the whole revision back; MariaDB keeps its DDL.
    with pytest.raises(RuntimeError, match="went away"), engine.begin() as connection:
        upgrade(connection)
    monkeypatch.undo()

    with engine.begin() as connection:
        upgrade(connection)
    with engine.connect() as connection:
        linked = connection.scalar(
            sa.text("SELECT COUNT(*) FROM playbook_executions WHERE snapshot_id IS NOT NULL")
        )
        assert linked == sum(1 for value in before.values() if parsed(value) is not None)
        assert connection.scalar(sa.text("SELECT COUNT(*) FROM definition_snapshots")) == 3
