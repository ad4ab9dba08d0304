"""The base package works without the ``[api]`` extra: nothing below the API imports it."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_library_and_the_cli_never_imports_fastapi() -> None:
    code = (
        "import sys, agentical.db.models, agentical.db.runs, agentical.db.history, "
        "agentical.db.details, agentical.db.aio, agentical.db.worker, agentical.cli.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
