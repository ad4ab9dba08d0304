"""The direction of imports: pure modules at the bottom, models above them, the run
engine above the models; the models reach the engine only through the listed
delegations (the contract's facade)."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "agentical" / "db"
PURE = [
    "enums",
    "errors",
    "types",
    "lifecycle",
    "graph",
    "rendering",
    "variables",
    "plan",
    "conditions",
    "scheduling",
    "audit",
]
ABOVE_PURE = ("agentical.db.models", "agentical.db.schemas", "agentical.db.runs")
ENGINE = ("agentical.db.runs", "agentical.db.worker", "agentical.cli", "agentical.api")
# The one place the models reach the run engine: the facade and ready/blocked steps.
DELEGATIONS = {
    ("models/playbook/__init__.py", "agentical.db.runs"),
    ("models/playbook/__init__.py", "agentical.db.runs.approvals"),
    ("models/playbook/__init__.py", "agentical.db.runs.claims"),
    ("models/playbook/__init__.py", "agentical.db.runs.control"),
    ("models/playbook/__init__.py", "agentical.db.runs.retries"),
    ("models/playbook/__init__.py", "agentical.db.runs.steps"),
    ("models/playbook/__init__.py", "agentical.db.runs.timeouts"),
    ("models/playbook/execution.py", "agentical.db.runs.readiness"),
}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_pure_modules_import_no_models_schemas_or_engine() -> None:
    for name in PURE:
        wrong = {
            module for module in imports(SOURCE / f"{name}.py") if module.startswith(ABOVE_PURE)
        }
        assert wrong == set(), name


def test_the_models_reach_the_engine_only_through_the_listed_delegations() -> None:
    found = {
        (str(path.relative_to(SOURCE)), module)
        for path in (SOURCE / "models").rglob("*.py")
        for module in imports(path)
        if module.startswith(ENGINE)
    }
    assert found == DELEGATIONS


def test_the_library_imports_neither_the_cli_nor_the_api_nor_fastapi() -> None:
    above = ("agentical.cli", "agentical.api", "fastapi", "starlette")
    found = {
        (str(path.relative_to(SOURCE)), module)
        for path in SOURCE.rglob("*.py")
        for module in imports(path)
        if module.startswith(above)
    }
    assert found == set()
