"""A table rebuilt on SQLite (copy, ``DROP TABLE``, rename) keeps the rows pointing at it:
none deleted by ``ON DELETE CASCADE``, none nulled by ``SET NULL``, none left dangling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from agentical.db.session import create_engine
from agentical.db.sqlite_migrations import rows_kept_through_rebuild

SCHEMA = [
    "CREATE TABLE parents (id INTEGER PRIMARY KEY, name TEXT)",
    "CREATE TABLE children (id INTEGER PRIMARY KEY,"
    " parent_id INTEGER REFERENCES parents (id) ON DELETE CASCADE)",
    "CREATE TABLE notes (id INTEGER PRIMARY KEY,"
    " parent_id INTEGER REFERENCES parents (id) ON DELETE SET NULL)",
    "INSERT INTO parents VALUES (1, 'a'), (2, 'b')",
    "INSERT INTO children VALUES (1, 1), (2, 2)",
    "INSERT INTO notes VALUES (1, 2)",
]


def rebuild_parents(connection: Connection, copied: str = "1 = 1") -> None:
    """What an Alembic batch operation sends for ``parents``, copying the rows ``copied``."""
    connection.exec_driver_sql("CREATE TABLE _new_parents (id INTEGER PRIMARY KEY, name TEXT)")
    connection.exec_driver_sql(f"INSERT INTO _new_parents SELECT * FROM parents WHERE {copied}")
    connection.exec_driver_sql("DROP TABLE parents")
    connection.exec_driver_sql("ALTER TABLE _new_parents RENAME TO parents")


def rebuild_and_commit(engine: Engine, copied: str = "1 = 1") -> None:
    with engine.begin() as connection, rows_kept_through_rebuild(connection, "parents"):
        rebuild_parents(connection, copied)


def rows(connection: Connection, table: str) -> list[tuple[object, ...]]:
    return [tuple(row) for row in connection.exec_driver_sql(f"SELECT * FROM {table}")]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'rebuild.db'}")
    with engine.begin() as connection:
        for statement in SCHEMA:
            connection.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def test_the_rows_pointing_at_a_rebuilt_table_stay_as_they_were(engine: Engine) -> None:
    rebuild_and_commit(engine)
    with engine.begin() as connection:
        assert rows(connection, "children") == [(1, 1), (2, 2)]
        assert rows(connection, "notes") == [(1, 2)]
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        connection.exec_driver_sql("DELETE FROM parents WHERE id = 1")
        assert rows(connection, "children") == [(2, 2)]


def test_a_rebuild_that_leaves_a_row_pointing_nowhere_is_refused(engine: Engine) -> None:
    with pytest.raises(CommandError, match="children would point at no row of parents"):
        rebuild_and_commit(engine, copied="id = 2")
    with engine.connect() as connection:
        assert rows(connection, "parents") == [(1, "a"), (2, "b")]
        assert rows(connection, "children") == [(1, 1), (2, 2)]


def test_a_rebuild_sqlite_cannot_make_safe_is_refused_before_it_starts(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE notes SET id = 1")  # the transaction is open now
        with (
            pytest.raises(CommandError, match="rows of children, notes that reference it"),
            rows_kept_through_rebuild(connection, "parents"),
        ):
            rebuild_parents(connection)
        assert rows(connection, "parents") == [(1, "a"), (2, "b")]
