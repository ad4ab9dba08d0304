"""The CLI in scripts: ``--json`` on every listing and show command, tables that keep each
row on one line in a pipe, and ``db downgrade -1`` as the README writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory

from agentical.db.migrate import alembic_config
from agentical.db.models.playbook import SECRET_MASK
from tests.cli.conftest import Invoke

LONG_NAME = "Primary database failover for the eu-west-1 production cluster (runbook 7)"
SECRET = "tok-very-secret-default"


@pytest.fixture
def stocked(migrated_cli: Invoke, tmp_path: Path) -> Invoke:
    """A database with one playbook (a long name, a sensitive default) and one template."""
    document = {
        "name": LONG_NAME,
        "category": "disaster_recovery",
        "steps": [{"name": "assess"}, {"name": "promote", "depends_on": ["assess"]}],
        "variables": [{"name": "token", "sensitive": True, "default": SECRET}],
    }
    path = tmp_path / "failover.json"
    path.write_text(json.dumps(document))
    migrated_cli("playbook", "import", str(path))
    migrated_cli("template", "save", LONG_NAME, "--as", "Failover template")
    return migrated_cli


def as_json(cli: Invoke, *arguments: str) -> Any:
    output = cli(*arguments, "--json").stdout
    return json.loads(output)  # exactly one document, nothing else on stdout


def test_every_listing_and_show_command_prints_one_json_document(stocked: Invoke) -> None:
    (listed,) = as_json(stocked, "playbook", "list")
    assert listed["name"] == LONG_NAME
    assert listed["step_count"] == 2

    shown = as_json(stocked, "playbook", "show", LONG_NAME)
    assert [step["step_name"] for step in shown["steps"]] == ["assess", "promote"]
    assert shown["variables"][0]["default_value"] == SECRET_MASK

    stats = as_json(stocked, "playbook", "stats", LONG_NAME)
    assert stats["name"] == LONG_NAME
    assert [step["step_name"] for step in stats["steps"]] == ["assess", "promote"]

    (template,) = as_json(stocked, "template", "list")
    assert template["name"] == "Failover template"

    (head,) = ScriptDirectory.from_config(alembic_config()).get_heads()
    current = as_json(stocked, "db", "current")
    assert current == {
        "revisions": [head],
        "heads": [head],
        "up_to_date": True,
        "other_branches": [],
    }
    history = as_json(stocked, "db", "history")
    assert history[0]["revision"] == head
    assert history[0]["head"] is True
    assert history[-1]["down_revision"] == []


def test_json_never_shows_a_secret(stocked: Invoke) -> None:
    for arguments in (
        ("playbook", "list"),
        ("playbook", "show", LONG_NAME),
        ("template", "list"),
    ):
        assert SECRET not in stocked(*arguments, "--json").stdout


def test_a_table_piped_to_grep_keeps_each_row_on_one_line(stocked: Invoke, sqlite_url: str) -> None:
    environment = {**os.environ, "COLUMNS": "40", "LOGFIRE_IGNORE_NO_CONFIG": "1"}
    for arguments, name in (
        (("playbook", "list"), LONG_NAME),
        (("template", "list"), "Failover template"),
        (("playbook", "show", LONG_NAME), "token (sensitive)"),
    ):
        piped = subprocess.run(
            [sys.executable, "-m", "agentical.cli", "--database-url", sqlite_url, *arguments],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
            check=True,
        )
        rows = [line for line in piped.stdout.splitlines() if name in line]
        assert len(rows) == 1, piped.stdout
    (row,) = (line for line in piped.stdout.splitlines() if "token" in line)
    assert SECRET_MASK in row


def test_downgrade_minus_one_as_the_readme_writes_it(migrated_cli: Invoke) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    (head,) = script.get_heads()
    previous = script.get_revision(head).down_revision
    assert f"is at {previous}" in migrated_cli("db", "downgrade", "-1").stdout
