"""The migrations: one head, a full round trip, no drift from the models, and a schema that
enforces the rules by itself (CHECK constraints, ON DELETE) on every database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Connection,
    Engine,
    Enum,
    Table,
    create_engine,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from agentical.db.migrate import alembic_config, downgrade, upgrade
from agentical.db.models import metadata
from agentical.db.models.playbook import (
    PlaybookStep,
    PlaybookStepExecution,
    step_dependencies,
)
from agentical.db.testing.databases import create_test_engine, temporary_database
from agentical.db.testing.factories import (
    make_execution,
    make_playbook,
    make_template,
    make_user,
    make_variable,
)
from tests.conftest import require_server

TABLES = {table.name for table in metadata.sorted_tables}


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def test_there_is_a_single_head() -> None:
    assert len(script().get_heads()) == 1


def test_every_revision_can_be_downgraded() -> None:
    for revision in script().walk_revisions():
        module = revision.module
        assert callable(getattr(module, "downgrade", None)), revision.revision


@pytest.fixture
def empty_engine(database: str) -> Iterator[Engine]:
    with temporary_database(require_server(database)) as url:
        engine = create_test_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def table_names(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_to_base_and_upgrade_again(empty_engine: Engine) -> None:
    with empty_engine.begin() as connection:
        upgrade(connection)
    assert table_names(empty_engine) == TABLES
    with empty_engine.begin() as connection:
        downgrade(connection, "base")
    assert table_names(empty_engine) == set()
    with empty_engine.begin() as connection:
        upgrade(connection)
    assert table_names(empty_engine) == TABLES
    with empty_engine.connect() as connection:
        head = script().get_current_head()
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_the_migrated_schema_matches_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "target_metadata": metadata}
        )
        assert compare_metadata(context, metadata) == []


def _enum_columns(table: Table) -> list[tuple[str, list[str]]]:
    return [
        (column.name, list(column.type.enums))
        for column in table.columns
        if isinstance(column.type, Enum)
    ]


def test_every_enum_column_is_covered_by_the_insert_test() -> None:
    covered = set(REQUIRED)
    with_enums = {table.name for table in metadata.sorted_tables if _enum_columns(table)}
    assert with_enums <= covered


REQUIRED: dict[str, Any] = {
    "playbook_templates": lambda i, ids: {"name": f"t{i}", "version": "1"},
    "playbooks": lambda i, ids: {"name": f"p{i}"},
    "playbook_steps": lambda i, ids: {
        "playbook_id": ids["playbooks"],
        "step_name": f"s{i}",
        "step_order": i + 1,
    },
    "playbook_variables": lambda i, ids: {
        "playbook_id": ids["playbooks"],
        "variable_name": f"v{i}",
    },
    "playbook_executions": lambda i, ids: {
        "playbook_id": ids["playbooks"],
        "execution_id": f"e{i}",
    },
    "playbook_step_executions": lambda i, ids: {
        "playbook_execution_id": ids["playbook_executions"],
        "step_name": f"s{i}",
        "step_order": i + 1,
    },
    "audit_entries": lambda i, ids: {"actor": f"a{i}"},
}


@pytest.fixture
def connection(db_engine: Engine) -> Iterator[Connection]:
    with db_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def test_a_row_with_every_member_of_every_enum_can_be_inserted(connection: Connection) -> None:
    ids: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if table.name not in REQUIRED:
            continue
        enums = _enum_columns(table)
        count = max((len(values) for _, values in enums), default=1)
        rows = []
        for i in range(count):
            row = REQUIRED[table.name](i, ids)
            for name, values in enums:
                row[name] = values[i % len(values)]
            rows.append(row)
        connection.execute(table.insert(), rows)
        ids[table.name] = connection.scalar(select(func.min(table.c.id)))
        for name, values in enums:
            stored = connection.scalars(select(table.c[name]).distinct()).all()
            assert sorted(map(str, stored)) == sorted(values), (table.name, name)
        raw = connection.execute(text(f"SELECT DISTINCT {enums[0][0]} FROM {table.name}"))
        assert {row[0] for row in raw} == set(enums[0][1])


# The member *name* instead of its value: the mistake a bare Mapped[StrEnum] would make.
BAD_VALUES = [
    ("playbooks", "status", "'sleeping'", "ck_playbooks_status"),
    ("playbooks", "category", "'INCIDENT_RESPONSE'", "ck_playbooks_category"),
    ("playbook_executions", "status", "'PAUSED'", "ck_playbook_executions_status"),
    ("playbook_steps", "step_type", "'teleport'", "ck_playbook_steps_step_type"),
    ("playbook_variables", "variable_type", "'blob'", "ck_playbook_variables_variable_type"),
    ("playbook_step_executions", "status", "'waiting'", "ck_playbook_step_executions_status"),
    ("playbooks", "total_executions", "-1", "ck_playbooks_total_executions_non_negative"),
    ("playbooks", "failed_executions", "-1", "ck_playbooks_failed_executions_non_negative"),
    (
        "playbook_steps",
        "successful_executions",
        "-1",
        "ck_playbook_steps_successful_executions_non_negative",
    ),
    (
        "playbook_executions",
        "completed_steps",
        "-1",
        "ck_playbook_executions_completed_steps_non_negative",
    ),
    ("playbook_templates", "usage_count", "-1", "ck_playbook_templates_usage_count_non_negative"),
    ("playbook_step_executions", "retry_count", "-1", "retry_count_non_negative"),
    ("playbook_steps", "step_order", "0", "ck_playbook_steps_step_order_min"),
    ("playbook_step_executions", "step_order", "0", "ck_playbook_step_executions_step_order_min"),
    ("playbook_executions", "progress_percentage", "101", "progress_range"),
    ("playbook_executions", "progress_percentage", "-0.5", "progress_range"),
    ("playbook_steps", "retry_attempts", "11", "ck_playbook_steps_retry_attempts_range"),
    ("playbooks", "retry_attempts", "-1", "ck_playbooks_retry_attempts_range"),
]


@pytest.fixture
def graph(session: Session) -> dict[str, int]:
    """One row in every table, made through the ORM; returns their ids by table."""
    user = make_user(session)
    template = make_template(session)
    playbook = make_playbook(
        session,
        steps=2,
        variables=[make_variable()],
        created_by_user_id=user.id,
        template_id=template.id,
    )
    execution = make_execution(session, playbook, executed_by_user_id=user.id)
    step_execution = PlaybookStepExecution(execution=execution, step=playbook.steps[0])
    session.add(step_execution)
    session.commit()
    return {
        "users": user.id,
        "playbook_templates": template.id,
        "playbooks": playbook.id,
        "playbook_steps": playbook.steps[0].id,
        "second_step": playbook.steps[1].id,
        "playbook_variables": playbook.variables[0].id,
        "playbook_executions": execution.id,
        "playbook_step_executions": step_execution.id,
    }


@pytest.mark.parametrize(
    ("table", "column", "value", "constraint"),
    BAD_VALUES,
    ids=[f"{t}.{c}={v}" for t, c, v, _ in BAD_VALUES],
)
def test_the_database_itself_rejects_a_value_the_rules_forbid(
    session: Session,
    graph: dict[str, int],
    database: str,
    table: str,
    column: str,
    value: str,
    constraint: str,
) -> None:
    connection = session.connection()
    read = text(f"SELECT {column} FROM {table} WHERE id = :id")
    before = connection.execute(read, {"id": graph[table]}).scalar_one()
    expected: type[DBAPIError] = OperationalError if database == "mariadb" else IntegrityError
    with pytest.raises(expected, match=constraint), connection.begin_nested():
        connection.execute(
            text(f"UPDATE {table} SET {column} = {value} WHERE id = :id"), {"id": graph[table]}
        )
    assert connection.execute(read, {"id": graph[table]}).scalar_one() == before


def count(session: Session, sql: str, **params: Any) -> int:
    number = session.execute(text(sql), params).scalar_one()
    assert isinstance(number, int)
    return number


def test_deleting_a_playbook_in_sql_deletes_everything_that_belongs_to_it(
    session: Session, graph: dict[str, int]
) -> None:
    playbook_id = graph["playbooks"]
    other = make_playbook(session, steps=2)
    make_execution(session, other)
    session.commit()
    belongs = {
        "playbook_steps": "SELECT COUNT(*) FROM playbook_steps WHERE playbook_id = :id",
        "playbook_variables": "SELECT COUNT(*) FROM playbook_variables WHERE playbook_id = :id",
        "playbook_executions": "SELECT COUNT(*) FROM playbook_executions WHERE playbook_id = :id",
        "playbook_step_executions": (
            "SELECT COUNT(*) FROM playbook_step_executions WHERE playbook_execution_id = :e"
        ),
        "playbook_step_dependencies": (
            "SELECT COUNT(*) FROM playbook_step_dependencies WHERE step_id IN (:s1, :s2)"
        ),
    }
    params = {
        "id": playbook_id,
        "e": graph["playbook_executions"],
        "s1": graph["playbook_steps"],
        "s2": graph["second_step"],
    }
    for name, sql in belongs.items():
        assert count(session, sql, **params) >= 1, name
    session.execute(text("DELETE FROM playbooks WHERE id = :id"), {"id": playbook_id})
    for name, sql in belongs.items():
        assert count(session, sql, **params) == 0, name
    assert count(session, "SELECT COUNT(*) FROM playbooks WHERE id = :id", id=other.id) == 1
    other_steps = "SELECT COUNT(*) FROM playbook_steps WHERE playbook_id = :id"
    assert count(session, other_steps, id=other.id) == 2
    assert count(session, "SELECT COUNT(*) FROM playbook_step_dependencies") == 1
    assert count(session, "SELECT COUNT(*) FROM users WHERE id = :id", id=graph["users"]) == 1


def test_deleting_a_user_in_sql_keeps_what_they_owned_with_no_owner(
    session: Session, graph: dict[str, int]
) -> None:
    session.execute(text("DELETE FROM users WHERE id = :id"), {"id": graph["users"]})
    owner = session.execute(
        text("SELECT created_by_user_id FROM playbooks WHERE id = :id"), {"id": graph["playbooks"]}
    ).one()
    runner = session.execute(
        text("SELECT executed_by_user_id FROM playbook_executions WHERE id = :id"),
        {"id": graph["playbook_executions"]},
    ).one()
    assert owner == (None,)
    assert runner == (None,)


def test_deleting_a_parent_playbook_in_sql_keeps_its_children(session: Session) -> None:
    parent = make_playbook(session, steps=0)
    children = [make_playbook(session, steps=1, parent_playbook_id=parent.id) for _ in range(2)]
    session.commit()
    session.execute(text("DELETE FROM playbooks WHERE id = :id"), {"id": parent.id})
    rows = session.execute(
        text("SELECT id, parent_playbook_id FROM playbooks WHERE id IN (:a, :b)"),
        {"a": children[0].id, "b": children[1].id},
    ).all()
    assert sorted(rows) == sorted((child.id, None) for child in children)


def test_deleting_a_template_in_sql_keeps_its_playbooks(
    session: Session, graph: dict[str, int]
) -> None:
    session.execute(
        text("DELETE FROM playbook_templates WHERE id = :id"), {"id": graph["playbook_templates"]}
    )
    template_id = session.execute(
        text("SELECT template_id FROM playbooks WHERE id = :id"), {"id": graph["playbooks"]}
    ).scalar_one()
    assert template_id is None


def test_deleting_a_step_in_sql_keeps_its_runs_by_name_and_drops_its_edges(
    session: Session, graph: dict[str, int]
) -> None:
    step_id = graph["playbook_steps"]
    session.execute(text("DELETE FROM playbook_steps WHERE id = :id"), {"id": step_id})
    row = session.execute(
        text("SELECT playbook_step_id, step_name FROM playbook_step_executions WHERE id = :id"),
        {"id": graph["playbook_step_executions"]},
    ).one()
    assert tuple(row) == (None, "step_1")
    edges = session.execute(
        select(func.count()).where(
            (step_dependencies.c.step_id == step_id)
            | (step_dependencies.c.depends_on_step_id == step_id)
        )
    ).scalar_one()
    assert edges == 0


def test_deleting_an_execution_in_sql_deletes_its_step_executions(
    session: Session, graph: dict[str, int]
) -> None:
    session.execute(
        text("DELETE FROM playbook_executions WHERE id = :id"),
        {"id": graph["playbook_executions"]},
    )
    assert count(session, "SELECT COUNT(*) FROM playbook_step_executions") == 0
    assert (
        count(
            session,
            "SELECT COUNT(*) FROM playbook_steps WHERE id = :id",
            id=graph["playbook_steps"],
        )
        == 1
    )


def test_a_plain_sqlite_engine_with_create_all_enforces_foreign_keys() -> None:
    engine = create_engine("sqlite://")
    try:
        metadata.create_all(engine)
        with Session(engine) as session:
            assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            playbook = make_playbook(session, steps=3)
            make_execution(session, playbook)
            parent_id = playbook.id
            child = make_playbook(session, steps=0, parent_playbook_id=parent_id)
            session.commit()
            session.execute(text("DELETE FROM playbooks WHERE id = :id"), {"id": parent_id})
            session.commit()
            assert session.scalar(select(func.count()).select_from(PlaybookStep)) == 0
            assert session.scalar(select(func.count()).select_from(step_dependencies)) == 0
            parent_of_child = session.execute(
                text("SELECT parent_playbook_id FROM playbooks WHERE id = :id"), {"id": child.id}
            ).scalar_one()
            assert parent_of_child is None
            with pytest.raises(IntegrityError, match="FOREIGN KEY"):
                session.execute(
                    text(
                        "INSERT INTO playbook_step_dependencies (step_id, depends_on_step_id) "
                        "VALUES (998, 999)"
                    )
                )
    finally:
        engine.dispose()


INDEXED = [
    ("playbooks", ["status"]),
    ("playbooks", ["category"]),
    ("playbooks", ["name"]),
    ("playbook_steps", ["playbook_id", "step_order"]),
    ("playbook_executions", ["playbook_id", "status"]),
    ("playbook_executions", ["status", "created_at"]),
    ("playbook_step_executions", ["playbook_execution_id", "status"]),
    ("playbook_step_executions", ["claim_due_at"]),
    ("playbook_step_executions", ["deadline_at"]),
    ("playbook_executions", ["deadline_at"]),
    ("playbook_variables", ["playbook_id", "variable_name"]),
]


@pytest.mark.parametrize(
    ("table", "columns"), INDEXED, ids=[f"{t}({','.join(c)})" for t, c in INDEXED]
)
def test_the_queries_users_run_are_served_by_an_index(
    db_engine: Engine, table: str, columns: list[str]
) -> None:
    with db_engine.connect() as connection:
        inspector = inspect(connection)
        leading = [list(index["column_names"]) for index in inspector.get_indexes(table)]
        leading += [list(u["column_names"]) for u in inspector.get_unique_constraints(table)]
    assert any(found[: len(columns)] == columns for found in leading), leading
