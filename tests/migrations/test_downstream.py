"""A downstream service with its own Alembic tree that adds ours through version_locations."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import alembic as alembic_package
import pytest
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, inspect, text

from agentical.db.migrate import alembic_config, downgrade, migrations_directory, upgrade
from agentical.db.session import create_engine as agentical_engine
from agentical.db.testing.databases import temporary_database
from tests.cli.conftest import invoker
from tests.conftest import require_server
from tests.migrations.runs import BEFORE_THE_RUN_ENGINE, add_runs, step_run_count

README = Path(__file__).resolve().parents[2] / "README.md"
SERVICE_FILES = {
    "alembic.ini": "# alembic.ini of the service",
    "service/models.py": "# service/models.py",
    "migrations/env.py": "# migrations/env.py of the service",
    "migrations/versions/svc0001_incident_links.py": (
        "# migrations/versions/svc0001_incident_links.py"
    ),
}


def readme_block(first_line: str) -> str:
    """The README's code block that starts with ``first_line`` (without that line)."""
    match = re.search(rf"```\w*\n{re.escape(first_line)}\n(.*?)```", README.read_text(), re.S)
    assert match is not None, f"README has no block starting with {first_line!r}"
    return match.group(1)


def write_downstream_project(root: Path, url: str, agentical_versions: str) -> Path:
    """Write the service of the README (its alembic.ini, models, env.py and revision) under
    ``root``, with its database at ``url`` and our revisions at ``agentical_versions``;
    return the ini path. Run Alembic from ``root``: the ini says ``prepend_sys_path = .``."""
    for name, first_line in SERVICE_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(readme_block(first_line))
    (root / "service" / "__init__.py").write_text("")
    # What `alembic init migrations` leaves beside env.py, for `alembic revision`.
    template = Path(alembic_package.__file__).parent / "templates" / "generic" / "script.py.mako"
    shutil.copy(template, root / "migrations" / "script.py.mako")
    ini = root / "alembic.ini"
    text = ini.read_text().replace("agentical.db:migrations/versions", agentical_versions)
    text = re.sub(r"(?m)^sqlalchemy\.url = .*$", "", text)
    ini.write_text(text + f"sqlalchemy.url = {url.replace('%', '%%')}\n")
    return ini


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def empty_url(database: str, tmp_path: Path) -> Iterator[str]:
    server = require_server(database)
    if server is None:
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    with temporary_database(server) as url:
        yield url


def alembic(ini: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """``alembic ARGUMENTS`` run from the service's folder, as its README says."""
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), *arguments],
        cwd=ini.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (arguments, result.stdout, result.stderr)
    return result


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_the_readme_service_upgrades_checks_autogenerates_and_downgrades_its_branch(
    empty_url: str, tmp_path: Path
) -> None:
    ini = write_downstream_project(
        tmp_path / "service", empty_url, str(migrations_directory() / "versions")
    )
    alembic(ini, "upgrade", "heads")
    assert {"playbooks", "playbook_steps", "incident_links"} <= tables(empty_url)
    engine = create_engine(empty_url)
    try:
        (foreign_key,) = inspect(engine).get_foreign_keys("incident_links")
    finally:
        engine.dispose()
    assert foreign_key["referred_table"] == "playbooks"
    assert foreign_key["referred_columns"] == ["id"]

    alembic(ini, "check")
    alembic(ini, "revision", "--autogenerate", "--head", "service@head", "-m", "nothing new")
    versions = ini.parent / "migrations" / "versions"
    (generated,) = set(versions.glob("*nothing_new.py"))
    text = generated.read_text()
    assert "= 'svc0001'" in text  # the service's branch, continued
    assert "op." not in text  # nothing to migrate: models and database agree
    generated.unlink()

    alembic(ini, "downgrade", "service@base")
    remaining = tables(empty_url)
    assert "incident_links" not in remaining
    assert "playbooks" in remaining


def test_the_readme_service_upgrades_a_sqlite_database_that_holds_runs(tmp_path: Path) -> None:
    """Its ``env.py`` runs our revisions that rebuild the run tables on SQLite: without
    foreign keys switched off they would be refused (the rows would be lost)."""
    url = f"sqlite:///{tmp_path / 'service.db'}"
    ini = write_downstream_project(
        tmp_path / "service", url, str(migrations_directory() / "versions")
    )
    alembic(ini, "upgrade", "heads")
    engine = agentical_engine(url)
    try:
        add_runs(engine)
        with engine.begin() as connection:
            kept = step_run_count(connection)
            downgrade(connection, BEFORE_THE_RUN_ENGINE)
        alembic(ini, "upgrade", "heads")
        with engine.connect() as connection:
            assert step_run_count(connection) == kept
    finally:
        engine.dispose()


def recorded_revisions(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", "postgresql", "mariadb"], indirect=True)
def test_our_commands_address_our_branch_and_leave_the_services_alone(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ini = write_downstream_project(
        tmp_path / "service", empty_url, str(migrations_directory() / "versions")
    )
    monkeypatch.chdir(ini.parent)  # the ini's prepend_sys_path is "."
    service = Config(str(ini))
    command.upgrade(service, "heads")
    (head,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert recorded_revisions(empty_url) == {head, "svc0001"}
    cli = invoker(empty_url)

    current = cli("db", "current").stdout
    assert f"{head} (head)" in current
    assert "not up to date" not in current
    assert "other branches (left alone): svc0001" in current
    assert "match" in cli("db", "check").stdout
    assert head in cli("db", "upgrade").stdout

    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    assert f"is at {previous}" in cli("db", "downgrade", "-1").stdout
    assert recorded_revisions(empty_url) == {previous, "svc0001"}
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            upgrade(connection)
    finally:
        engine.dispose()
    assert recorded_revisions(empty_url) == {head, "svc0001"}
    assert "incident_links" in tables(empty_url)

    # The service's own tree still sees both branches where it left them.
    command.downgrade(service, "service@base")
    assert recorded_revisions(empty_url) == {head}
    command.upgrade(service, "heads")
    assert recorded_revisions(empty_url) == {head, "svc0001"}


def test_a_database_at_an_unknown_revision_of_ours_is_refused_not_recreated(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            upgrade(connection)
            connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        with (
            pytest.raises(CommandError, match="0099, unknown to this release"),
            engine.begin() as connection,
        ):
            upgrade(connection)
    finally:
        engine.dispose()
