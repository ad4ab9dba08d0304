from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from agentical.cli.playbook import simulate
from agentical.db.models.playbook import (
    ExecutionStatus,
    Playbook,
    PlaybookExecution,
    StepStatus,
    load_definition,
)
from tests.cli.conftest import Invoke, invoker

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
INCIDENT = next(path for path in EXAMPLES if path.stem == "incident_response")
INCIDENT_NAME = "Database primary outage"
TOKEN = "tok-8f2d1c9e-very-secret"
INCIDENT_VARS = (
    "--var", "service=checkout", "--var", "cluster=db-main", "--var", f"admin_api_token={TOKEN}"
)  # fmt: skip

BAD_DEFINITION = """\
name: Broken
category: testing
steps:
  - name: first
    depends_on: [missing]
  - name: first
variables:
  - name: 9lives
"""


@pytest.fixture
def session_on(sqlite_url: str) -> Iterator[Session]:
    """A session on the CLI's database, to check what the commands recorded."""
    engine = create_engine(sqlite_url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.fixture
def imported(migrated_cli: Invoke) -> Invoke:
    migrated_cli("playbook", "import", str(INCIDENT))
    return migrated_cli


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_every_example_validates_without_a_database(example: Path) -> None:
    cli = invoker("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never contacted
    output = cli("playbook", "validate", str(example)).stdout
    assert f"valid playbook '{load_definition(example).name}'" in output


def test_validate_lists_every_problem_with_its_location(cli: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_DEFINITION)
    lines = cli("playbook", "validate", str(bad), expect=1).stderr.splitlines()
    assert lines[0] == f"{bad}: 3 problems"
    problems = sorted(line.removeprefix(f"{bad}: ").split(":")[0] for line in lines[1:])
    assert problems == ["steps[0].depends_on[0]", "steps[1].name", "variables[0].name"]


def test_a_playbook_file_needs_a_name(cli: Invoke, tmp_path: Path) -> None:
    nameless = tmp_path / "nameless.yaml"
    nameless.write_text("category: testing\nsteps: [{name: only}]\n")
    result = cli("playbook", "validate", str(nameless), expect=1)
    assert f"{nameless}: name: a playbook needs a name" in result.stderr.splitlines()


def test_validate_a_missing_file_is_one_line(cli: Invoke, tmp_path: Path) -> None:
    result = cli("playbook", "validate", str(tmp_path / "nope.yaml"), expect=1)
    assert result.stderr == f"Error: {tmp_path / 'nope.yaml'}: no such file\n"


def test_import_of_an_existing_name_adds_the_next_version(
    imported: Invoke, session_on: Session
) -> None:
    assert "version 2" in imported("playbook", "import", str(INCIDENT), "--publish").stdout
    versions = session_on.scalars(select(Playbook.version).where(Playbook.name == INCIDENT_NAME))
    assert sorted(versions) == [1, 2]
    latest_only = imported("playbook", "list").stdout
    assert latest_only.count(INCIDENT_NAME) == 1
    assert "published" in latest_only
    assert imported("playbook", "list", "--all-versions").stdout.count(INCIDENT_NAME) == 2


def test_list_filters_by_status_and_category(imported: Invoke) -> None:
    assert INCIDENT_NAME in imported("playbook", "list", "--category", "incident_response").stdout
    assert "no playbooks match" in imported("playbook", "list", "--status", "published").stdout
    assert "no playbooks match" in imported("playbook", "list", "--category", "backup").stdout


def test_list_on_an_empty_database(migrated_cli: Invoke) -> None:
    assert "no playbooks yet" in migrated_cli("playbook", "list").stdout


def test_export_round_trips_through_yaml_and_json(imported: Invoke, tmp_path: Path) -> None:
    original = load_definition(INCIDENT)
    target = tmp_path / "exported.yaml"
    imported("playbook", "export", INCIDENT_NAME, "-o", str(target))
    assert load_definition(target) == original
    as_json = imported("playbook", "export", INCIDENT_NAME, "--format", "json").stdout
    assert json.loads(as_json)["name"] == INCIDENT_NAME
    assert imported("playbook", "export", INCIDENT_NAME).stdout == original.to_yaml()


def test_export_never_writes_a_sensitive_default(migrated_cli: Invoke, tmp_path: Path) -> None:
    source = tmp_path / "secret.yaml"
    source.write_text(
        "name: Secretive\ncategory: security\nsteps: [{name: only}]\n"
        "variables: [{name: password, sensitive: true, default: hunter2-default}]\n"
    )
    migrated_cli("playbook", "import", str(source))
    assert "hunter2-default" not in migrated_cli("playbook", "export", "Secretive").stdout
    assert "hunter2-default" not in migrated_cli("playbook", "show", "Secretive").stdout


def test_show_draws_steps_with_dependencies_and_masks_secrets(imported: Invoke) -> None:
    output = imported("playbook", "show", INCIDENT_NAME).stdout
    assert "2. assess (automated)" in output
    assert "after capture_diagnostics, verify_writes" in output
    assert "admin_api_token (sensitive)" in output
    assert "one of low, medium, high, critical" in output


def test_unknown_playbook_is_one_line(migrated_cli: Invoke) -> None:
    result = migrated_cli("playbook", "show", "Nope", expect=1)
    assert result.stderr.startswith("Error: no playbook named 'Nope'")
    assert result.stderr.count("\n") == 1


def test_simulated_run_completes_every_step_and_records_it(
    imported: Invoke, session_on: Session
) -> None:
    result = imported("playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS)
    assert "7/7" in result.stdout
    assert "completed: 7 completed, 0 failed, 0 skipped" in result.stdout
    assert TOKEN not in result.output

    execution = session_on.scalars(select(PlaybookExecution)).one()
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.progress_percentage == 100
    assert {run.status for run in execution.step_executions} == {StepStatus.COMPLETED}
    outputs = {run.step_name: run.output_data for run in execution.step_executions}
    assert outputs["assess"]["best_replica"] == "<simulated assess.best_replica>"
    assert execution.playbook.total_executions == 1


def test_simulated_failure_skips_the_dependants_and_shows_in_stats(
    imported: Invoke, session_on: Session
) -> None:
    imported("playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS)
    failed = imported(
        "playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS, "--fail", "promote_replica"
    ).stdout
    assert "failed: 3 completed, 1 failed, 3 skipped" in failed
    assert "Skipped: dependency 'promote_replica' failed" in failed

    stats = imported("playbook", "stats", INCIDENT_NAME).stdout
    assert "2 finished runs, 50% successful" in stats
    assert "executions: 1 completed, 1 failed" in stats
    assert "most failed steps: promote_replica (1)" in stats


def test_a_simulation_takes_no_step_of_another_running_execution(
    imported: Invoke, session_on: Session
) -> None:
    imported("playbook", "import", str(INCIDENT))  # version 2: the same step names
    imported("playbook", "run", INCIDENT_NAME, "--version", "1", *INCIDENT_VARS)
    imported("playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS)

    other = session_on.scalars(
        select(PlaybookExecution).join(Playbook).where(Playbook.version == 1)
    ).one()
    assert other.status is ExecutionStatus.RUNNING
    assert {run.status for run in other.step_executions} == {StepStatus.PENDING}
    assert {run.claimed_by for run in other.step_executions} == {None}


def test_an_interrupted_simulation_is_cancelled_so_no_worker_takes_it_up(
    imported: Invoke, session_on: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(_parameters: dict[str, Any]) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate, "_simulated", lambda _output, _fails: interrupted)
    imported("playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS, expect=130)

    execution = session_on.scalars(select(PlaybookExecution)).one()
    assert execution.status is ExecutionStatus.CANCELLED
    assert execution.cancellation_reason == "simulation interrupted"


def test_run_reports_every_bad_input_in_one_line_quoting_only_plain_values(
    imported: Invoke,
) -> None:
    result = imported(
        "playbook", "run", INCIDENT_NAME, "--simulate", "--var", "cluster=NOT VALID!", expect=1
    )
    message = result.stderr
    assert message.count("\n") == 1
    for name in ("service", "cluster", "admin_api_token"):
        assert name in message
    assert "variable 'cluster': invalid value 'NOT VALID!': must match the pattern" in message


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("--var", "no-equals-sign"), "--var expects key=value"),
        (("--fail", "assess"), "--fail only applies to a --simulate run"),
        (("--simulate", "--fail", "nope", *INCIDENT_VARS), "--fail names no step"),
    ],
)
def test_run_argument_mistakes_are_one_line(
    imported: Invoke, arguments: tuple[str, ...], message: str
) -> None:
    result = imported("playbook", "run", INCIDENT_NAME, *arguments, expect=1)
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_run_without_simulate_starts_the_execution_for_workers(
    imported: Invoke, session_on: Session
) -> None:
    output = imported("playbook", "run", INCIDENT_NAME, *INCIDENT_VARS).stdout
    assert "ready steps: acknowledge" in output
    execution = session_on.scalars(select(PlaybookExecution)).one()
    assert execution.status is ExecutionStatus.RUNNING


def test_import_simulate_and_stats_on_every_database(server_url: str) -> None:
    cli = invoker(server_url)
    cli("db", "upgrade")
    for example in EXAMPLES:
        cli("playbook", "import", str(example))
    cli("playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS, "--fail", "assess")
    assert "1 finished run, 0% successful" in cli("playbook", "stats", INCIDENT_NAME).stdout
    assert len(cli("playbook", "list").stdout.splitlines()) >= len(EXAMPLES)


def test_a_second_start_beyond_the_concurrency_limit_is_refused(imported: Invoke) -> None:
    imported("playbook", "run", INCIDENT_NAME, *INCIDENT_VARS)
    result = imported("playbook", "run", INCIDENT_NAME, *INCIDENT_VARS, expect=1)
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert TOKEN not in result.output


def test_a_var_without_equals_sign_is_never_echoed(imported: Invoke) -> None:
    result = imported(
        "playbook", "run", INCIDENT_NAME, "--var", f"admin_api_token:{TOKEN}", expect=1
    )
    assert "--var expects key=value" in result.stderr
    assert TOKEN not in result.output
    assert "admin_api_token" not in result.output


def test_a_deeply_nested_file_is_one_line_not_a_traceback(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    nested = "[" * 300 + "]" * 300
    path.write_text(f'{{"name": "x", "category": "testing", "configuration": {{"a": {nested}}}}}')
    result = cli("playbook", "validate", str(path), expect=1)
    assert "nested deeper than 32 levels" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_list_as_a_yaml_key_is_one_line_not_a_traceback(cli: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "list_key.yaml"
    path.write_text("name: x\ncategory: testing\n? [a, b]\n: 1\n")
    result = cli("playbook", "validate", str(path), expect=1)
    assert f"{path}: the key at line 3, column 3 is a list: keys must be strings" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_json_var_nested_past_the_recursion_limit_is_one_line_not_a_traceback(
    migrated_cli: Invoke, tmp_path: Path
) -> None:
    path = tmp_path / "json_var.yaml"
    path.write_text(
        "name: Deep\ncategory: testing\nsteps: [{name: a}]\nvariables: [{name: cfg, type: json}]\n"
    )
    migrated_cli("playbook", "import", str(path))
    result = migrated_cli("playbook", "run", "Deep", "--var", "cfg=" + "[" * 100_000, expect=1)
    assert "variable 'cfg'" in result.stderr
    assert "nested deeper than 32 levels" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_control_characters_from_the_data_never_reach_the_terminal(
    imported: Invoke, session_on: Session
) -> None:
    playbook = session_on.scalars(select(Playbook)).one()
    playbook.description = "clear\x1b[2J screen \u202eeulav\r overwrite\x07"
    session_on.commit()
    outputs = [
        imported("playbook", "show", INCIDENT_NAME).output,
        imported("playbook", "show", "evil\x1b[31m\u202ename", expect=1).output,
    ]
    for output in outputs:
        for character in ("\x1b", "\u202e", "\r", "\x07"):
            assert character not in output
    assert "clear\\x1b[2J screen \\u202eeulav" in outputs[0]
    assert "evil\\x1b[31m\\u202ename" in outputs[1]
