from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from agentical.db.migrate import alembic_config
from tests.cli.conftest import Invoke, invoker


def test_upgrade_current_check_and_downgrade_round_trip_on_every_database(
    server_url: str,
) -> None:
    cli = invoker(server_url)
    (head,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert "base" in cli("db", "current").stdout
    assert head in cli("db", "upgrade").stdout
    assert "(head)" in cli("db", "current").stdout
    assert "match" in cli("db", "check").stdout
    cli("db", "downgrade", "base")
    engine = create_engine(server_url)
    try:
        assert "playbooks" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_check_exits_1_and_lists_the_drift_when_a_table_is_missing(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE playbook_step_dependencies"))
    finally:
        engine.dispose()
    result = migrated_cli("db", "check", expect=1)
    assert "Drift" in result.stderr
    assert "add_table playbook_step_dependencies" in result.stderr


def test_check_on_an_unmigrated_database_is_a_one_line_error(cli: Invoke) -> None:
    result = cli("db", "check", expect=1)
    assert result.stderr.strip().startswith("Error: Target database is not up to date")
    assert "Traceback" not in result.output


def test_history_lists_the_packaged_revisions_with_the_branch_label(cli: Invoke) -> None:
    output = cli("db", "history").stdout
    for head in ScriptDirectory.from_config(alembic_config()).get_heads():
        assert f"{head} (head)" in output
    assert "agentical" in output


def test_current_says_how_to_catch_up_when_behind(cli: Invoke) -> None:
    output = cli("db", "current").stdout
    assert "base" in output
    assert "agentical db upgrade" in output


def test_unknown_revision_is_one_clear_line(migrated_cli: Invoke) -> None:
    result = migrated_cli("db", "downgrade", "nope", expect=1)
    assert result.stderr.count("\n") == 1
    assert "nope" in result.stderr


def test_unreachable_server_never_prints_the_password() -> None:
    cli = invoker("postgresql+psycopg://agent:hunter2secret@127.0.0.1:1/nothing")
    result = cli("db", "current", expect=1)
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "hunter2secret" not in result.output
    assert "Traceback" not in result.output


def test_a_driver_that_is_not_installed_is_a_user_error() -> None:
    result = invoker("mysql+mysqldb://root@127.0.0.1/x")("db", "current", expect=1)
    assert result.stderr == "Error: No module named 'MySQLdb'\n"


def test_malformed_url_is_a_user_error() -> None:
    result = invoker("not a url")("db", "current", expect=1)
    assert "Could not parse" in result.stderr


def test_database_url_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from agentical.cli.main import app

    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("AGENTICAL_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").is_file()


def test_default_database_is_an_sqlite_file_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from agentical.cli.main import app

    monkeypatch.delenv("AGENTICAL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "agentical.db").is_file()


def test_the_console_script_runs_as_a_real_process(tmp_path: Path) -> None:
    environment = {**os.environ, "AGENTICAL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    command = [sys.executable, "-m", "agentical.cli"]
    upgrade = subprocess.run(
        [*command, "db", "upgrade"], env=environment, capture_output=True, text=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr
    failure = subprocess.run(
        [*command, "db", "downgrade", "nope"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failure.returncode == 1
    assert failure.stderr.startswith("Error: ")
    assert "Traceback" not in failure.stderr
    engine = create_engine(environment["AGENTICAL_DATABASE_URL"])
    try:
        with engine.connect() as connection:
            version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version in ScriptDirectory.from_config(alembic_config()).get_heads()
    finally:
        engine.dispose()
