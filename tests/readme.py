"""The README's code, as the tests that run it read it."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(heading: str, index: int = 0) -> str:
    """The ``index``-th Python block of the README's section ``heading`` (``## HTTP API``)."""
    section = README.read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) > index, f"{heading} has {len(blocks)} Python blocks"
    return str(blocks[index])


def run_block(code: str, namespace: dict[str, object]) -> None:
    """Run README code in ``namespace``; a traceback points into README.md."""
    exec(compile(code, str(README), "exec"), namespace)
