"""The ``agentical`` pytest plugin, used the way a downstream suite uses it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from agentical.db.migrate import migrations_directory
from agentical.db.testing.databases import SERVER_URLS
from tests.conftest import require_server
from tests.migrations.test_downstream import write_downstream_project

# Plugins the inner runs do not need: hypothesis alone costs seconds per run.
INNER = (
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)

DOWNSTREAM_TESTS = """
from sqlalchemy import func, select

from agentical.db.models.playbook import (
    ExecutionStatus, Playbook, PlaybookExecution, PlaybookTemplate,
)


def test_factories_build_related_rows_and_the_test_may_commit(
    agentical_factories, agentical_session
):
    variable = agentical_factories.variable("severity")
    playbook = agentical_factories.playbook(steps=["assess", "fix"], variables=[variable])
    execution = agentical_factories.execution(playbook)
    template = agentical_factories.template()
    agentical_session.commit()
    assert [step.step_name for step in playbook.steps] == ["assess", "fix"]
    assert playbook.steps[1].depends_on == [playbook.steps[0]]
    assert playbook.variables[0].get_value() == "medium"
    assert execution.status is ExecutionStatus.PENDING
    assert template.usage_count == 0


def test_nothing_survives_the_previous_test(agentical_session):
    for model in (Playbook, PlaybookExecution, PlaybookTemplate):
        assert agentical_session.scalar(select(func.count()).select_from(model)) == 0


def test_the_engine_is_built_once_per_session(agentical_engine, agentical_database_url):
    assert agentical_engine.url.render_as_string(hide_password=False) == agentical_database_url
    assert agentical_engine.dialect.name == "{dialect}"
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_fixtures_give_a_migrated_database_and_roll_back_even_after_commit(
    database: str, pytester: pytest.Pytester
) -> None:
    server = require_server(database)
    pytester.makepyfile(DOWNSTREAM_TESTS.replace("{dialect}", database))
    options = [] if server is None else [f"--agentical-db-url={server}"]
    result = pytester.runpytest(*INNER, *options)
    result.assert_outcomes(passed=3)


def test_url_may_come_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_server("postgresql")
    monkeypatch.setenv("AGENTICAL_TEST_DATABASE_URL", SERVER_URLS["postgresql"])
    pytester.makepyfile(
        """
        def test_gets_its_own_database(agentical_engine):
            assert agentical_engine.url.database.startswith("agentical_test_")
        """
    )
    pytester.runpytest(*INNER).assert_outcomes(passed=1)


def test_an_in_memory_sqlite_url_serves_the_sync_fixtures_and_names_why_not_async(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from sqlalchemy import text

        def test_sync(agentical_session):
            agentical_session.execute(text("SELECT count(*) FROM playbooks")).scalar_one()

        @pytest.mark.asyncio
        async def test_async(agentical_async_session):
            pass
        """
    )
    result = pytester.runpytest(*INNER, "--agentical-db-url=sqlite://")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*in-memory SQLite database belongs to one connection*"])


def test_a_suite_that_uses_no_fixture_never_touches_a_database(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest(
        *INNER, "--agentical-db-url=postgresql+psycopg://nobody@127.0.0.1:1/x"
    )
    result.assert_outcomes(passed=1)


def test_the_option_is_documented_in_pytest_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(*INNER, "--help")
    result.stdout.fnmatch_lines(["*--agentical-db-url*"])


def test_loading_the_plugin_imports_no_database_code() -> None:
    probe = (
        "import sys, agentical.db.testing.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'agentical.db.m'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


SERVICE_TESTS = """
import pytest
from sqlalchemy import func, inspect, select

from agentical.db import aio
from agentical.db.models.playbook import Playbook
from service.models import IncidentLink

DEFINITION = {"name": "Failover", "category": "testing", "steps": [{"name": "assess"}]}


def test_the_services_tables_are_built_after_ours(agentical_engine):
    assert {"playbooks", "incident_links"} <= set(inspect(agentical_engine).get_table_names())
    assert "svc_test_" in agentical_engine.url.database  # a server's name, or SQLite's folder


def test_a_service_row_pointing_at_ours_is_rolled_back(agentical_factories, agentical_session):
    playbook = agentical_factories.playbook()
    agentical_session.add(IncidentLink(playbook_id=playbook.id, ticket="INC-1"))
    agentical_session.commit()


@pytest.mark.asyncio
async def test_an_async_session_may_commit(agentical_async_session):
    playbook = await aio.import_definition(agentical_async_session, DEFINITION)
    await agentical_async_session.commit()
    assert playbook.version == 1


@pytest.mark.asyncio
async def test_and_is_rolled_back_too(agentical_async_session):
    count = select(func.count()).select_from(Playbook)
    assert await agentical_async_session.scalar(count) == 0


def test_nothing_of_the_service_survives(agentical_session):
    assert agentical_session.scalar(select(func.count()).select_from(IncidentLink)) == 0
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
def test_a_service_with_its_own_migrations_and_async_tests(
    database: str, pytester: pytest.Pytester
) -> None:
    server = require_server(database)
    write_downstream_project(pytester.path, "sqlite://", str(migrations_directory() / "versions"))
    pytester.makeini(
        """
        [pytest]
        agentical_alembic_config = alembic.ini
        agentical_db_prefix = svc_test_
        """
    )
    pytester.makepyfile(test_service=SERVICE_TESTS)
    options = [] if server is None else [f"--agentical-db-url={server}"]
    result = pytester.runpytest_subprocess(*INNER, *options)
    result.assert_outcomes(passed=5)


def test_a_bad_prefix_is_a_usage_error_naming_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nagentical_db_prefix = Bad-Prefix\n")
    pytester.makepyfile("def test_x(agentical_database_url):\n    pass\n")
    result = pytester.runpytest(*INNER)
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*agentical_db_prefix*Bad-Prefix*"])
