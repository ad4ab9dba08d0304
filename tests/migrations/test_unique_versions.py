"""Migration 0002 (unique playbook name and version) on data that breaks it, and re-runs.

MariaDB and SQLite commit DDL statement by statement, so the migration checks the data
before it changes anything and each of its steps can be run again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, inspect, text, update
from sqlalchemy.orm import Session

from agentical.db.migrate import downgrade, upgrade
from agentical.db.models import metadata
from agentical.db.models.playbook import Playbook
from agentical.db.session import create_engine
from agentical.db.testing.databases import temporary_database
from agentical.db.testing.factories import make_playbook
from tests.conftest import require_server

INDEX = "ix_playbooks_name_version"


@pytest.fixture
def at_0001(database: str) -> Iterator[Engine]:
    """A database at revision 0001 holding three playbooks (two named alike)."""
    with temporary_database(require_server(database)) as url:
        engine = create_engine(url)  # a deployment's: SQLite rebuilds need no open BEGIN
        try:
            with engine.begin() as connection:
                upgrade(connection)
            with Session(engine) as session:
                make_playbook(session, steps=1, name="Failover")
                make_playbook(session, steps=1, name="Failover", version=2)
                make_playbook(session, steps=1, name="Backup")
                session.commit()
            with engine.begin() as connection:
                downgrade(connection, "0001")
            yield engine
        finally:
            engine.dispose()


def name_version_index(connection: Connection) -> dict[str, object] | None:
    for index in inspect(connection).get_indexes("playbooks"):
        if index["name"] == INDEX:
            return dict(index)
    return None


def revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def state(engine: Engine) -> tuple[bool | None, str | None]:
    """``(whether the (name, version) index is unique or None if missing, the revision)``."""
    with engine.connect() as connection:
        index = name_version_index(connection)
        return (None if index is None else bool(index["unique"])), revision(connection)


def test_duplicate_versions_stop_the_upgrade_with_what_to_fix_and_change_nothing(
    at_0001: Engine,
) -> None:
    with at_0001.begin() as connection:
        connection.execute(update(Playbook).where(Playbook.version == 2).values(version=1))
        before = name_version_index(connection)
    assert before is not None
    assert not before["unique"]

    with pytest.raises(CommandError) as refused, at_0001.begin() as connection:
        upgrade(connection)

    message = str(refused.value)
    assert "'Failover' version 1 (2 rows)" in message
    assert "Backup" not in message
    assert "Nothing was changed" in message
    with at_0001.connect() as connection:
        assert name_version_index(connection) == before
        assert revision(connection) == "0001"

    with at_0001.begin() as connection:
        (second,) = connection.execute(
            text("SELECT max(id) FROM playbooks WHERE name = 'Failover'")
        ).scalars()
        connection.execute(update(Playbook).where(Playbook.id == second).values(version=2))
    with at_0001.begin() as connection:
        upgrade(connection)
    unique, at = state(at_0001)
    assert unique
    assert at != "0001"


def drop_the_index(connection: Connection) -> None:
    """What a run that failed right after its first statement leaves behind."""
    (index,) = (index for index in metadata.tables["playbooks"].indexes if index.name == INDEX)
    index.drop(connection)
    assert name_version_index(connection) is None


def test_an_upgrade_that_stopped_after_dropping_the_old_index_can_be_run_again(
    at_0001: Engine,
) -> None:
    with at_0001.begin() as connection:
        drop_the_index(connection)
    with at_0001.begin() as connection:
        upgrade(connection, "0002")
    assert state(at_0001) == (True, "0002")


def test_a_downgrade_that_stopped_after_dropping_the_unique_index_can_be_run_again(
    at_0001: Engine,
) -> None:
    with at_0001.begin() as connection:
        upgrade(connection, "0002")
        drop_the_index(connection)
    with at_0001.begin() as connection:
        downgrade(connection, "0001")
    assert state(at_0001) == (False, "0001")
