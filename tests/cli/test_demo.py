from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
