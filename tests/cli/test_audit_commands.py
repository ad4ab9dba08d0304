"""``--as`` and ``agentical audit``: every command that acts records who did, and the
trail reads back as a table or JSON."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Invoke, invoker
from tests.cli.test_db_clean import seed
from tests.cli.test_playbook_commands import INCIDENT, INCIDENT_NAME, INCIDENT_VARS, TOKEN


def trail(cli: Invoke, *narrowing: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(cli("audit", "--json", *narrowing).stdout)
    return entries


def test_import_and_publish_are_recorded_as_the_person_named_by_as(migrated_cli: Invoke) -> None:
    migrated_cli("--as", "alice", "playbook", "import", str(INCIDENT), "--publish")
    entries = trail(migrated_cli, "--playbook", INCIDENT_NAME)
    assert [(e["action"], e["actor"], e["to_status"]) for e in entries] == [
        ("publish", "alice", "published"),
        ("import", "alice", "draft"),
    ]
    shown = json.loads(migrated_cli("playbook", "show", INCIDENT_NAME, "--json").stdout)
    assert shown["created_by"] == "alice"


def test_without_as_the_operating_system_user_acts(
    migrated_cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "os-user")
    migrated_cli("playbook", "import", str(INCIDENT))
    assert trail(migrated_cli)[0]["actor"] == "os-user"


def test_an_unknown_operating_system_user_acts_as_cli(
    migrated_cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_user() -> str:
        raise OSError("no login name")

    monkeypatch.setattr(getpass, "getuser", no_user)
    migrated_cli("playbook", "import", str(INCIDENT))
    assert trail(migrated_cli)[0]["actor"] == "cli"


def test_a_blank_as_is_one_line_and_nothing_is_done(migrated_cli: Invoke) -> None:
    result = migrated_cli("--as", " ", "playbook", "import", str(INCIDENT), expect=1)
    assert result.stderr.startswith("Error: actor must name who acts")
    assert result.stderr.count("\n") == 1
    assert trail(migrated_cli) == []


def test_a_simulated_run_records_its_start_approvals_and_end_never_its_inputs(
    migrated_cli: Invoke,
) -> None:
    migrated_cli("playbook", "import", str(INCIDENT))
    migrated_cli("--as", "bob", "playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS)
    entries = list(reversed(trail(migrated_cli, "--playbook", INCIDENT_NAME)))
    started = next(e for e in entries if e["action"] == "start")
    run = [e for e in entries if e["execution_id"] == started["execution_id"]]
    assert (run[0]["action"], run[0]["actor"]) == ("start", "bob")
    assert (run[-1]["action"], run[-1]["to_status"]) == ("complete", "completed")
    people = {(e["action"], e["actor"]) for e in run[1:-1]}
    assert people
    assert people <= {("approve", "simulation"), ("complete_step", "simulation")}
    assert TOKEN not in json.dumps(entries)
    only = trail(migrated_cli, "--execution", started["execution_id"], "--action", "start")
    assert [e["action"] for e in only] == ["start"]


def test_db_clean_records_the_purge_and_who_ran_it(migrated_cli: Invoke, sqlite_url: str) -> None:
    seed(sqlite_url)  # one run finished 100 days ago, one 10 days ago
    migrated_cli("--as", "janitor", "db", "clean", "--older-than", "30d", "--json")
    (purge,) = trail(migrated_cli, "--action", "purge")
    assert (purge["actor"], purge["details"]["executions"]) == ("janitor", 1)
    migrated_cli("db", "clean", "--older-than", "30d", "--dry-run")
    assert len(trail(migrated_cli, "--action", "purge")) == 1


def test_the_trail_reads_as_a_table_newest_first(migrated_cli: Invoke) -> None:
    migrated_cli("--as", "alice", "playbook", "import", str(INCIDENT), "--publish")
    lines = migrated_cli("audit", "--since", "1h").stdout.splitlines()
    rows = [line for line in lines if "alice" in line]
    assert "publish" in rows[0]
    assert "draft -> published" in rows[0]
    assert "import" in rows[1]
    assert f"{INCIDENT_NAME} v1" in rows[1]
    assert "no audit entries" in migrated_cli("audit", "--actor", "nobody").stdout


@pytest.mark.parametrize("since", ["yesterday", "99999999d", "99999999999999999999d"])
def test_a_bad_since_is_one_line(migrated_cli: Invoke, since: str) -> None:
    result = migrated_cli("audit", "--since", since, expect=2)
    assert "--since" in result.output
    assert "Traceback" not in result.output


def test_import_run_and_audit_on_every_database(server_url: str, tmp_path: Path) -> None:
    cli = invoker(server_url)
    cli("db", "upgrade")
    cli("--as", "alice", "playbook", "import", str(INCIDENT), "--publish")
    cli("--as", "bob", "playbook", "run", INCIDENT_NAME, "--simulate", *INCIDENT_VARS)
    actions = [(e["action"], e["actor"]) for e in trail(cli, "--playbook", INCIDENT_NAME)]
    assert actions[-3:] == [("start", "bob"), ("publish", "alice"), ("import", "alice")]
    assert actions[0] == ("complete", "bob")
