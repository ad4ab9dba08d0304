"""``agentical execution ...``: operators list, inspect and act on runs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from agentical.db import runs
from agentical.db.models.playbook import PlaybookExecution
from agentical.db.session import session_factory
from agentical.db.worker import StepFailed, Worker
from tests.cli.conftest import Invoke, invoker

TOKEN = "tok-5b1e-operator-secret"
DRILL = """\
name: Drill
category: testing
max_concurrent_executions: 5
variables:
  - {name: token, type: string, sensitive: true, required: true}
steps:
  - {name: build, type: script, parameters: {auth: "{{ token }}"}}
  - {name: deploy, type: script, depends_on: [build]}
  - {name: sign_off, type: approval, depends_on: [deploy]}
  - {name: notes, type: manual}
"""


def cells_of(line: str) -> list[str]:
    """The cells of one row of a drawn table (the borders make the first and last)."""
    return [cell.strip() for cell in line.split("│")]


def start_drill(cli: Invoke, tmp_path: Path, runs_wanted: int = 1) -> list[str]:
    """Import the drill (once) and start runs of it; their execution ids, oldest first."""
    source = tmp_path / "drill.yaml"
    if not source.exists():
        source.write_text(DRILL)
        cli("playbook", "import", str(source))
    for _ in range(runs_wanted):
        cli("playbook", "run", "Drill", "--var", f"token={TOKEN}")
    listed = json.loads(cli("execution", "list", "--json", "--limit", "1000").stdout)
    return [item["execution_id"] for item in reversed(listed["items"])]


@pytest.fixture
def engine_of(sqlite_url: str) -> Iterator[Engine]:
    engine = create_engine(sqlite_url)
    yield engine
    engine.dispose()


def work(engine: Engine, failing: frozenset[str] = frozenset()) -> None:
    """A worker's passes until nothing is left for it; ``failing`` steps fail for good."""

    def handler(parameters: dict[str, Any]) -> dict[str, Any]:
        if parameters.get("fail"):
            raise StepFailed("compiler exploded")
        return {"ok": True}

    def named(name: str) -> Any:
        return lambda parameters: handler({**parameters, "fail": name in failing})

    handlers: dict[Any, Any] = {name: named(name) for name in ("build", "deploy")}
    worker = Worker(session_factory(engine), handlers, worker_id="w-test")
    while worker.run_once():
        pass


def test_list_pages_newest_first_with_filters(migrated_cli: Invoke, tmp_path: Path) -> None:
    ids = start_drill(migrated_cli, tmp_path, runs_wanted=3)
    listed = migrated_cli("execution", "list", "--limit", "2", "--json").stdout
    assert TOKEN not in listed
    first = json.loads(listed)
    assert [item["execution_id"] for item in first["items"]] == ids[:0:-1]
    rest = migrated_cli("execution", "list", "--limit", "2", "--cursor", first["next_cursor"])
    assert ids[0] in rest.stdout
    assert ids[1] not in rest.stdout
    page = migrated_cli("execution", "list", "--limit", "2").stdout
    assert f"more: --cursor {first['next_cursor']}" in page
    assert "Drill v1" in page
    assert "running" in page
    assert migrated_cli("execution", "list", "--status", "running", "--playbook", "Drill").stdout
    nothing = migrated_cli("execution", "list", "--status", "completed").stdout
    assert "no executions match" in nothing
    assert "no executions match" in migrated_cli("execution", "list", "--playbook", "X").stdout


def test_a_cursor_that_is_not_one_is_one_line(migrated_cli: Invoke) -> None:
    result = migrated_cli("execution", "list", "--cursor", "nonsense", expect=1)
    assert result.stderr.startswith("Error: cursor: not a cursor of this history")
    assert len(result.stderr.splitlines()) == 1


def test_show_lists_steps_attempts_who_and_the_timeline_without_secrets(
    migrated_cli: Invoke, tmp_path: Path, engine_of: Engine
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    work(engine_of, failing=frozenset({"build"}))
    shown = migrated_cli("execution", "show", execution[:8]).stdout
    rows = {
        cells[2]: cells[3:9]
        for line in shown.splitlines()
        if len(cells := [cell.strip() for cell in line.split("│")]) == 10
    }
    # type, status, attempts, duration, by, note
    assert rows["build"][:3] == ["script", "failed", "1"]
    assert rows["build"][4:] == ["w-test", "compiler exploded"]
    assert rows["deploy"][1:3] == ["skipped", "0"]
    assert rows["deploy"][5] == "Skipped: dependency 'build' failed"
    assert rows["notes"][1] == "pending"
    assert "timeline" in shown
    assert "token=********" in shown
    document = json.loads(migrated_cli("execution", "show", execution, "--json").stdout)
    assert document["input_variables"] == {"token": "********"}
    build = document["step_executions"][0]
    assert (build["step_name"], build["status"], build["claimed_by"]) == (
        "build",
        "failed",
        "w-test",
    )
    assert [change["to"] for change in document["status_history"]] == ["running"]
    for output in (shown, json.dumps(document)):
        assert TOKEN not in output


def test_an_operator_retries_decides_and_completes_until_the_run_ends(
    server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "os-user")
    cli = invoker(server_url)
    cli("db", "upgrade")
    (execution,) = start_drill(cli, tmp_path)
    engine = create_engine(server_url)
    try:
        work(engine, failing=frozenset({"build"}))
        retried = cli("--as", "carol", "execution", "retry", execution, "build").stdout
        assert "pending again: build, deploy, sign_off" in retried
        work(engine)
        cli("--as", "alice", "execution", "approve", execution, "sign_off", "--comment", "ship it")
        done = cli(
            "--as", "bob", "execution", "complete", execution, "notes", "--output", '{"ticket": 7}'
        )
        assert "bob completed 'notes'" in done.stdout
    finally:
        engine.dispose()
    document = json.loads(cli("execution", "show", execution, "--json").stdout)
    assert document["status"] == "completed"
    steps = {step["step_name"]: step for step in document["step_executions"]}
    assert (steps["sign_off"]["completed_by"], steps["notes"]["completed_by"]) == ("alice", "bob")
    assert steps["sign_off"]["output_data"]["comment"] == "ship it"
    assert steps["notes"]["output_data"] == {"ticket": 7}
    assert steps["build"]["retry_count"] == 1
    assert document["status_history"][-1]["to"] == "completed"
    # The person named by --as is the one the trail records, never the OS user.
    trail = json.loads(cli("audit", "--execution", execution, "--json").stdout)
    decided = {(e["action"], e["step_name"]): e["actor"] for e in trail}
    assert decided[("approve", "sign_off")] == "alice"
    assert decided[("complete_step", "notes")] == "bob"
    assert decided[("start", None)] == "os-user"
    # show's timeline is that trail, oldest first, in the text and in --json.
    assert document["audit_trail"] == trail[::-1]
    shown = cli("execution", "show", execution).stdout
    timeline = shown[shown.index("timeline") :]
    rows = [cells[2:5] for line in timeline.splitlines() if len(cells := cells_of(line)) == 9]
    assert ["alice", "approve", "sign_off"] in rows
    assert ["bob", "complete_step", "notes"] in rows
    assert rows[0][:2] == ["os-user", "start"]
    steps = {
        cells[2]: cells[7] for line in shown.splitlines() if len(cells := cells_of(line)) == 10
    }
    assert (steps["sign_off"], steps["notes"]) == ("alice", "bob")  # who decided
    assert TOKEN not in shown


def test_a_run_without_trail_rows_shows_its_status_history_as_the_timeline(
    migrated_cli: Invoke, tmp_path: Path, engine_of: Engine
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    migrated_cli("--as", "erin", "execution", "pause", execution)
    with engine_of.begin() as connection:  # as a run from before the trail was kept
        connection.exec_driver_sql("DELETE FROM audit_entries")

    shown = migrated_cli("execution", "show", execution).stdout
    document = json.loads(migrated_cli("execution", "show", execution, "--json").stdout)

    timeline = shown[shown.index("timeline") :]
    rows = [cells[2:5] for line in timeline.splitlines() if len(cells := cells_of(line)) == 7]
    assert rows[-1] == ["erin", "running", "paused"]
    assert document["audit_trail"] == []


def test_a_rejection_fails_the_run_and_is_never_retried(
    migrated_cli: Invoke, tmp_path: Path, engine_of: Engine
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    work(engine_of)
    migrated_cli(
        "--as", "dave", "execution", "reject", execution, "sign_off", "--reason", "not today"
    )
    refused = migrated_cli("execution", "retry", execution, "sign_off", expect=1).stderr
    assert "a rejection is final" in refused
    document = json.loads(migrated_cli("execution", "show", execution, "--json").stdout)
    sign_off = document["step_executions"][2]
    assert sign_off["error_message"] == "rejected by dave: not today"


def test_pause_resume_and_cancel_move_the_run_and_print_json(
    migrated_cli: Invoke, tmp_path: Path
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    paused = json.loads(migrated_cli("execution", "pause", execution, "--json").stdout)
    assert paused["status"] == "paused"
    assert "resumed execution" in migrated_cli("execution", "resume", execution).stdout
    cancelled = migrated_cli(
        "execution", "cancel", execution, "--reason", "drill over", "--json"
    ).stdout
    document = json.loads(cancelled)
    assert (document["status"], document["cancellation_reason"]) == ("cancelled", "drill over")
    assert {step["status"] for step in document["step_executions"]} == {"skipped"}
    assert TOKEN not in cancelled


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (("retry", "{id}", "notes"), "step 'notes' is pending: only a failed or skipped step"),
        (("retry", "{id}", "nope"), "has no step 'nope'"),
        (("approve", "{id}", "nope"), "has no step 'nope' (its steps: build, deploy"),
        (("approve", "{id}", "sign_off"), "is not waiting for a decision (pending)"),
        (("complete", "{id}", "deploy"), "'deploy' (id=2): cannot move from 'pending'"),
        (("complete", "{id}", "notes", "--output", "[1]"), "--output must be a JSON object"),
        (("complete", "{id}", "notes", "--output", "{"), "--output is not JSON"),
        (("complete", "{id}", "notes", "--output", "[" * 100_000), "--output is nested deeper"),
        (("resume", "{id}"), "cannot move from 'running' to 'running'"),
        (("cancel", "{id}", "--reason", " "), "--reason must say why"),
        (("show", "0000-no-such-run"), "no execution '0000-no-such-run'"),
        (("show", "ab"), "at least 4 characters"),
    ],
)
def test_a_refused_action_is_one_line_and_changes_nothing(
    migrated_cli: Invoke, tmp_path: Path, command: tuple[str, ...], message: str
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    before = json.loads(migrated_cli("execution", "show", execution, "--json").stdout)
    arguments = [execution if part == "{id}" else part for part in command]
    result = migrated_cli("execution", *arguments, expect=1)
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert json.loads(migrated_cli("execution", "show", execution, "--json").stdout) == before


def test_an_ended_run_is_final_for_every_action(migrated_cli: Invoke, tmp_path: Path) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    migrated_cli("execution", "cancel", execution, "--reason", "stop")
    for command in (("retry", execution, "build"), ("pause", execution)):
        result = migrated_cli("execution", *command, expect=1)
        assert "cancelled" in result.stderr


def test_watch_redraws_until_the_run_ends(
    migrated_cli: Invoke, tmp_path: Path, engine_of: Engine
) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)

    def end_it_soon() -> None:
        time.sleep(0.5)
        with session_factory(engine_of).begin() as session:
            run = session.query(PlaybookExecution).filter_by(execution_id=execution).one()
            runs.cancel_execution(session, run, "watched to the end")

    ender = threading.Thread(target=end_it_soon)
    ender.start()
    try:
        result = migrated_cli("execution", "show", execution, "--watch", "--interval", "0.1")
    finally:
        ender.join()
    assert "cancelled" in result.stdout
    assert "watched to the end" in result.stdout
    assert TOKEN not in result.stdout


def test_watch_and_json_do_not_go_together(migrated_cli: Invoke, tmp_path: Path) -> None:
    (execution,) = start_drill(migrated_cli, tmp_path)
    result = migrated_cli("execution", "show", execution, "--watch", "--json", expect=1)
    assert "--watch draws on the terminal" in result.stderr
