"""The README's table of limiting defaults says what the code does."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentical.db.history import iter_executions_jsonl, most_failing_steps, purge_executions
from agentical.db.models.base import column_defaults
from agentical.db.models.limits import TEXT_MAX_BYTES
from agentical.db.models.playbook import Playbook, PlaybookStep, claim_ready_steps
from agentical.db.models.playbook.idempotency import IDEMPOTENCY_KEY_MAX_LENGTH
from agentical.db.models.playbook.importing import IMPORT_ATTEMPTS
from agentical.db.plan import PLAN_BYTES_KEPT, PLANS_KEPT

README = Path(__file__).resolve().parents[1] / "README.md"


def parameter_default(function: Callable[..., Any], name: str) -> Any:
    return inspect.signature(function).parameters[name].default


def column_default(model: type[Any], name: str) -> Any:
    return column_defaults(model.__mapper__).get(name)


ACTUAL: dict[str, Any] = {
    **{
        f"{model.__name__}.{name}": column_default(model, name)
        for model, names in (
            (Playbook, ("max_concurrent_executions", "timeout_minutes", "retry_attempts")),
            (PlaybookStep, ("retry_attempts", "retry_delay_seconds", "timeout_minutes")),
        )
        for name in names
    },
    "claim_ready_steps(limit=...)": parameter_default(claim_ready_steps, "limit"),
    "claim_ready_steps(lease_seconds=...)": parameter_default(claim_ready_steps, "lease_seconds"),
    "most_failing_steps(limit=...)": parameter_default(most_failing_steps, "limit"),
    "iter_executions_jsonl(batch_size=...)": parameter_default(iter_executions_jsonl, "batch_size"),
    "purge_executions(batch_size=...)": parameter_default(purge_executions, "batch_size"),
    "IMPORT_ATTEMPTS": IMPORT_ATTEMPTS,
    "IDEMPOTENCY_KEY_MAX_LENGTH": IDEMPOTENCY_KEY_MAX_LENGTH,
    "TEXT_MAX_BYTES": TEXT_MAX_BYTES,
    "PLANS_KEPT": PLANS_KEPT,
    "PLAN_BYTES_KEPT": PLAN_BYTES_KEPT,
}


def documented() -> dict[str, str]:
    section = README.read_text().split("## Defaults that limit behaviour", 1)[1].split("\n## ")[0]
    return dict(re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", section, re.M))


def as_written(value: Any) -> str:
    """How the README writes a default: numbers without a needless ``.0``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.mark.parametrize("setting", sorted(ACTUAL))
def test_the_readme_gives_each_limiting_default_as_the_code_has_it(setting: str) -> None:
    assert documented().get(setting) == as_written(ACTUAL[setting])


def test_the_readme_documents_nothing_the_test_does_not_check() -> None:
    assert set(documented()) == set(ACTUAL)
