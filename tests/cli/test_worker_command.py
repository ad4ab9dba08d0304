"""``agentical worker --handlers module:attribute``: the worker as a command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from agentical.db.models.playbook import ExecutionStatus, PlaybookExecution
from tests.cli.conftest import Invoke

ROOT = Path(__file__).resolve().parents[2]
CHAIN = """\
name: Chain
category: testing
steps:
  - {name: first, type: script, parameters: {target: prod}}
  - {name: second, type: script, depends_on: [first]}
"""


def _status(url: str) -> ExecutionStatus | None:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(select(PlaybookExecution.status))
    finally:
        engine.dispose()


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_the_worker_runs_a_playbook_to_its_end_and_stops_on_sigterm(
    migrated_cli: Invoke, sqlite_url: str, tmp_path: Path, as_json: bool
) -> None:
    source = tmp_path / "chain.yaml"
    source.write_text(CHAIN)
    migrated_cli("playbook", "import", str(source))
    migrated_cli("playbook", "run", "Chain")
    command = [
        sys.executable, "-m", "agentical.cli", "--database-url", sqlite_url, "worker",
        "--handlers", "tests.cli.worker_handlers:handlers",
        "--worker-id", "w-process", "--poll-interval", "0.05", *(["--json"] if as_json else []),
    ]  # fmt: skip
    environment = {**os.environ, "LOGFIRE_IGNORE_NO_CONFIG": "1", "COLUMNS": "200"}
    worker = subprocess.Popen(
        command,
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _status(sqlite_url) is ExecutionStatus.RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _status(sqlite_url) is ExecutionStatus.COMPLETED
        worker.send_signal(signal.SIGTERM)
        stdout, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 0, stderr
    if as_json:
        assert "worker w-process on sqlite:///" in stderr
        assert json.loads(stdout) == {
            "worker_id": "w-process",
            "handles": ["script"],
            "status": "stopped",
        }
    else:
        assert "worker w-process on sqlite:///" in stdout
        assert "handles script" in stdout
        assert "worker w-process stopped" in stdout
    shown = migrated_cli("execution", "list", "--status", "completed").stdout
    assert "Chain v1" in shown


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        ("tests.cli.worker_handlers", "--handlers expects package.module:attribute"),
        ("tests.cli.no_such_module:handlers", "No module named 'tests.cli.no_such_module'"),
        ("tests.cli.worker_handlers:missing", "has no attribute 'missing'"),
        ("tests.cli.worker_handlers:not_a_mapping", "is a function, not a mapping"),
    ],
)
def test_bad_handlers_are_one_line(migrated_cli: Invoke, handlers: str, message: str) -> None:
    result = migrated_cli("worker", "--handlers", handlers, expect=1)
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_handlers_for_a_step_people_finish_are_refused(
    migrated_cli: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "person_handlers.py").write_text("handlers = {'manual': lambda parameters: {}}\n")
    monkeypatch.chdir(tmp_path)  # the current folder is importable, as for python -m
    monkeypatch.syspath_prepend(str(tmp_path))  # (and taken off sys.path after the test)
    result = migrated_cli("worker", "--handlers", "person_handlers:handlers", expect=1)
    assert "manual steps are finished by people" in result.stderr
