"""``alembic upgrade --sql``: a script where the revisions can be written as one, and a
refusal that names the step where a revision must read the database.

An offline run never connects, so these tests need no server: a URL names the dialect.
"""

from __future__ import annotations

import io

import pytest
from alembic import command
from alembic.util import CommandError

from agentical.db.migrate import alembic_config

URLS = {
    "sqlite": "sqlite:///never-opened.db",
    "postgresql": "postgresql+psycopg://offline@localhost/offline",
    "mariadb": "mysql+pymysql://offline@localhost/offline",
}
SCRIPT_REFUSED = "reads the database, so it cannot be written as a SQL script \\(--sql\\)"


def offline_script(url: str, revisions: str, *, down: bool = False) -> str:
    config, script = alembic_config(url), io.StringIO()
    config.output_buffer = script
    if down:
        command.downgrade(config, revisions, sql=True)
    else:
        command.upgrade(config, revisions, sql=True)
    return script.getvalue()


@pytest.mark.parametrize("name", URLS)
def test_a_script_through_the_run_engine_revision_is_refused_by_name(name: str) -> None:
    with pytest.raises(CommandError, match=f"^Revision 0004 .* {SCRIPT_REFUSED}"):
        offline_script(URLS[name], "head")


@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_on_a_server_the_revisions_after_the_snapshots_are_written_as_a_script(name: str) -> None:
    script = offline_script(URLS[name], "0006:head")

    assert "CREATE TABLE audit_entries" in script
    assert "UPDATE alembic_version SET version_num='0010' WHERE" in script


@pytest.mark.parametrize("name", ["postgresql", "mariadb"])
def test_the_snapshots_revision_is_refused_both_ways(name: str) -> None:
    with pytest.raises(CommandError, match=f"^Revision 0006 .* {SCRIPT_REFUSED}"):
        offline_script(URLS[name], "0005:0006")
    with pytest.raises(CommandError, match=f"^Revision 0006 .* {SCRIPT_REFUSED}"):
        offline_script(URLS[name], "0006:0005", down=True)


def test_on_sqlite_a_table_rebuild_is_refused_by_name() -> None:
    with pytest.raises(CommandError, match=f"^Rebuilding \\w+ on SQLite {SCRIPT_REFUSED}"):
        offline_script(URLS["sqlite"], "0006:head")
