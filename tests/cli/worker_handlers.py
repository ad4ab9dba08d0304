"""The handlers ``agentical worker --handlers tests.cli.worker_handlers:handlers`` imports
in the worker command's tests."""

from __future__ import annotations

from typing import Any


def _echo(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"received": sorted(parameters)}


handlers = {"script": _echo}
not_a_mapping = _echo
