"""The built wheel, installed in a fresh virtualenv, migrates a database from anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.migrations.test_downstream import write_downstream_project

ROOT = Path(__file__).resolve().parents[1]

# A service module using the public API, as a user of the wheel writes it.
TYPED_SERVICE = """\
from sqlalchemy.orm import Session

from agentical.db.errors import AgenticalError
from agentical.db.models.playbook import Playbook, PlaybookExecution, load_definition


def run(session: Session, text: str) -> str:
    playbook: Playbook = Playbook.import_definition(session, load_definition(text))
    execution: PlaybookExecution = playbook.new_execution({})
    try:
        execution.start_execution()
    except AgenticalError as error:
        return str(error)
    return execution.execution_id
"""


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # No AGENTICAL_* variables and no PYTHONPATH: only what the wheel installed counts.
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("AGENTICAL_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, (command, result.stdout, result.stderr)
    return result


@pytest.mark.slow
def test_installed_wheel_upgrades_a_new_sqlite_file_outside_the_repository(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    # hatchling comes with the dev extra, so the build needs no network.
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT)
    (wheel,) = dist.glob("agentical_playbooks-*.whl")

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel)
    # The dependencies come from this environment's site-packages (no network); its
    # editable install of agentical is not activated there (.pth files are not nested).
    site_packages = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
    (Path(site_packages.stdout.strip()) / "dependencies.pth").write_text(
        sysconfig.get_path("purelib") + "\n"
    )

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = run(python, "-c", "import agentical.db.migrate as m; print(m.migrations_directory())")
    assert where.stdout.strip().startswith(str(venv))

    agentical = venv / "bin" / "agentical"
    upgraded = run(agentical, "db", "upgrade", cwd=outside)
    assert "sqlite:///agentical.db is at" in upgraded.stdout
    assert "(head)" in run(agentical, "db", "current", cwd=outside).stdout
    run(agentical, "db", "check", cwd=outside)

    # The run pages' templates ship as package data: the page renders from the wheel.
    page = (
        "from fastapi.testclient import TestClient\n"
        "from agentical.api.server import create_app\n"
        "with TestClient(create_app('sqlite:///agentical.db')) as client:\n"
        "    print(client.get('/ui/executions').text)\n"
    )
    assert "No runs yet." in run(python, "-c", page, cwd=outside).stdout

    # A service checked with mypy --strict reads our annotations from the wheel (py.typed).
    service = outside / "service_code.py"
    service.write_text(TYPED_SERVICE)
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--python-executable",
            python,
            "--cache-dir",
            tmp_path / "mypy-cache",
            service,
        ],
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # A downstream service names our tree by package, as the README shows.
    service_url = f"sqlite:///{outside / 'service.db'}"
    ini = write_downstream_project(
        outside / "service", service_url, "agentical.db:migrations/versions"
    )
    run(python, "-m", "alembic", "-c", ini, "upgrade", "heads", cwd=ini.parent)
    engine = create_engine(service_url)
    try:
        assert {"playbooks", "incident_links"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
