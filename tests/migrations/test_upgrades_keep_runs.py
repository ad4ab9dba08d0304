"""Migrating a database that holds runs, through the revisions that rebuild tables on
SQLite (0004, 0006): no row is lost, a run still open goes on after the upgrade, and on
SQLite foreign keys are enforced again afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus
from agentical.db.migrate import downgrade, upgrade
from agentical.db.models.playbook import PlaybookExecution, create_execution
from agentical.db.runs import claim_ready_steps
from agentical.db.session import create_engine
from agentical.db.testing.databases import create_test_engine, temporary_database
from tests.conftest import require_server
from tests.migrations.runs import BEFORE_THE_RUN_ENGINE, add_runs, run_steps, step_run_count


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@pytest.fixture
def url(database: str) -> Iterator[str]:
    with temporary_database(require_server(database)) as url:
        yield url


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    """The library's engine, as a deployment makes it, on a migrated database with runs."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            upgrade(connection)
        add_runs(engine)
        yield engine
    finally:
        engine.dispose()


def test_a_run_open_before_the_run_engine_goes_on_after_the_upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        kept = step_run_count(connection)
        downgrade(connection, BEFORE_THE_RUN_ENGINE)
    with engine.begin() as connection:
        assert step_run_count(connection) == kept
        upgrade(connection)
    with engine.connect() as connection:
        assert step_run_count(connection) == kept == 6

    with Session(engine) as session:
        assert run_steps(session, 2) == ["step_2", "step_3"]
        assert claim_ready_steps(session, worker_id="w") == []
        statuses = session.scalars(
            select(PlaybookExecution.status).order_by(PlaybookExecution.id)
        ).all()
    assert statuses == [ExecutionStatus.COMPLETED, ExecutionStatus.COMPLETED]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_enforces_foreign_keys_again_after_a_migration(engine: Engine) -> None:
    with engine.begin() as connection:
        downgrade(connection, BEFORE_THE_RUN_ENGINE)
        upgrade(connection)
    with engine.begin() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        connection.execute(delete(PlaybookExecution))
        assert step_run_count(connection) == 0  # the cascade holds


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_upgraded_sqlite_database_never_gives_a_deleted_id_again(engine: Engine) -> None:
    """0010 rebuilds the tables with ``AUTOINCREMENT``, their counters starting after the
    rows it copied."""
    with engine.begin() as connection:
        downgrade(connection, "0009")
        upgrade(connection)
    with Session(engine) as session:
        newest = session.scalars(
            select(PlaybookExecution).order_by(PlaybookExecution.id.desc()).limit(1)
        ).one()
        deleted_id, playbook = newest.id, newest.playbook
        session.delete(newest)
        session.commit()
        assert create_execution(session, playbook, {}).id > deleted_id


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_sqlite_refuses_a_rebuild_that_would_lose_rows_and_changes_nothing(
    engine: Engine, url: str
) -> None:
    """A connection whose transaction SQLite already began (here, the test engine's
    explicit ``BEGIN``, then a query) cannot switch foreign keys off."""
    in_transaction = create_test_engine(url)
    try:
        with in_transaction.connect() as connection:
            kept, head = step_run_count(connection), revision(connection)
            with pytest.raises(CommandError) as refused:
                downgrade(connection, BEFORE_THE_RUN_ENGINE)
            connection.rollback()
            assert (step_run_count(connection), revision(connection)) == (kept, head)
    finally:
        in_transaction.dispose()
    assert re.search(
        r"rebuilds the table \w+ on SQLite, .* the rows of [\w, ]+ that reference it\. "
        r".* This revision changed nothing\.$",
        str(refused.value),
    )
