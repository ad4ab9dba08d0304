"""``agentical db clean``: the purge from the command line, with an archive and counts."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from agentical.db.enums import ExecutionStatus, VariableType
from agentical.db.models.playbook import SECRET_MASK, PlaybookExecution, PlaybookStepExecution
from agentical.db.testing.factories import make_playbook, make_variable
from agentical.db.types import utc_now
from tests.cli.conftest import Invoke


def seed(url: str) -> dict[str, int]:
    """A playbook of 3 steps with a sensitive ``token``: a run that ended 100 days ago,
    one 10 days ago, and one running for 200 days, each with its step runs; their ids."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            token = make_variable("token", variable_type=VariableType.STRING, is_sensitive=True)
            token.enum_values = []
            token.default_value = None
            playbook = make_playbook(session, name="Restore", variables=[token])
            ids = {}
            for name, days, status in (
                ("old", 100, ExecutionStatus.COMPLETED),
                ("recent", 10, ExecutionStatus.FAILED),
                ("running", 200, ExecutionStatus.RUNNING),
            ):
                at = utc_now() - timedelta(days=days)
                execution = PlaybookExecution(
                    playbook=playbook,
                    status=status,
                    created_at=at,
                    started_at=at,
                    completed_at=None if status == ExecutionStatus.RUNNING else at,
                    input_variables={"token": "hunter2"},
                )
                session.add(execution)
                session.add_all(
                    PlaybookStepExecution(execution=execution, step=step) for step in playbook.steps
                )
                session.flush()
                ids[name] = execution.id
            session.commit()
            return ids
    finally:
        engine.dispose()


def stored(url: str) -> set[int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(PlaybookExecution.id)))
    finally:
        engine.dispose()


def test_clean_archives_then_deletes_old_finished_runs_and_prints_the_counts(
    migrated_cli: Invoke, sqlite_url: str, tmp_path: Path
) -> None:
    ids = seed(sqlite_url)
    archive = tmp_path / "history.jsonl"

    result = migrated_cli("db", "clean", "--older-than", "90d", "--archive", str(archive))

    assert "deleted 1 executions and 3 step executions in 1 batches" in result.stdout
    assert "; 0 definition snapshots" in result.stdout  # the other runs still use it
    assert stored(sqlite_url) == {ids["recent"], ids["running"]}
    (line,) = archive.read_text().splitlines()
    assert json.loads(line)["input_variables"] == {"token": SECRET_MASK}
    assert "hunter2" not in result.output + archive.read_text()


def test_clean_dry_run_as_json_counts_and_deletes_nothing(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    ids = seed(sqlite_url)

    result = migrated_cli("db", "clean", "--older-than", "5d", "--dry-run", "--json")

    summary = json.loads(result.stdout)
    assert summary["dry_run"] is True
    assert (summary["matched_executions"], summary["deleted_executions"]) == (2, 0)
    assert stored(sqlite_url) == set(ids.values())


@pytest.mark.parametrize("as_json", [False, True])
def test_clean_sweeps_the_definition_snapshot_its_last_run_used(
    migrated_cli: Invoke, sqlite_url: str, as_json: bool
) -> None:
    ids = seed(sqlite_url)
    engine = create_engine(sqlite_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(PlaybookExecution)
                .where(PlaybookExecution.id == ids["running"])
                .values(
                    status=ExecutionStatus.CANCELLED, completed_at=utc_now() - timedelta(days=7)
                )
            )
    finally:
        engine.dispose()

    output = migrated_cli("db", "clean", "--older-than", "5d", *(["--json"] if as_json else []))

    if as_json:
        summary = json.loads(output.stdout)
        assert (summary["deleted_executions"], summary["deleted_snapshots"]) == (3, 1)
    else:
        assert "deleted 3 executions" in output.stdout
        assert "; 1 definition snapshots no run used any more" in output.stdout


def test_clean_keep_last_and_playbook_narrow_the_purge(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    ids = seed(sqlite_url)

    migrated_cli("db", "clean", "--older-than", "1d", "--keep-last", "1", "--playbook", "Restore")

    assert stored(sqlite_url) == {ids["recent"], ids["running"]}


@pytest.mark.parametrize("age", ["90", "0d", "3y", "-5d"])
def test_clean_rejects_an_age_without_a_positive_number_and_unit(
    migrated_cli: Invoke, sqlite_url: str, age: str
) -> None:
    ids = seed(sqlite_url)

    result = migrated_cli("db", "clean", "--older-than", age, expect=2)

    assert "--older-than" in result.output
    assert stored(sqlite_url) == set(ids.values())


def test_clean_of_an_unknown_playbook_is_a_one_line_error(
    migrated_cli: Invoke, sqlite_url: str
) -> None:
    ids = seed(sqlite_url)

    result = migrated_cli("db", "clean", "--older-than", "1d", "--playbook", "Nope", expect=1)

    assert result.stderr.strip() == "Error: playbook: no playbook is named 'Nope'"
    assert stored(sqlite_url) == set(ids.values())


def test_clean_pauses_after_each_batch(
    migrated_cli: Invoke, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(sqlite_url)
    pauses: list[float] = []
    monkeypatch.setattr("agentical.cli.clean.time.sleep", pauses.append)

    migrated_cli("db", "clean", "--older-than", "1d", "--batch-size", "1", "--pause", "0.5")

    assert pauses == [0.5, 0.5]
