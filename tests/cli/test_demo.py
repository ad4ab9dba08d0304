from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agentical.api.server import create_app
from agentical.db.models.playbook import load_definition

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_make_demo_runs_every_example_end_to_end(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), str(database)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    examples = list((ROOT / "examples").glob("*.yaml"))
    assert result.stdout.count("$ agentical playbook import") == len(examples)
    assert result.stdout.count("$ agentical playbook stats") == len(examples)
    assert "most failed steps:" in result.stdout
    assert "not-a-secret" not in result.stdout
    assert "Done in" in result.stdout
    assert database.is_file()
    assert result.stdout.rstrip().endswith("then open http://127.0.0.1:8000/ui/executions")

    # The URL it ends with: `agentical serve` on that database shows every run.
    with TestClient(create_app(f"sqlite:///{database}")) as client:
        page = client.get("/")

    assert page.url.path == "/ui/executions"
    for example in ROOT.joinpath("examples").glob("*.yaml"):
        assert str(load_definition(example).name) in page.text
    assert page.text.count('class="pill status-failed"') == 1
