"""Logfire events for lifecycle changes, through ``logfire-api``.

``logfire-api`` is a no-op shim until the application configures the full SDK: the library
never configures anything itself. Attributes are ids, names, states and durations, never
variable values.
"""

from __future__ import annotations

from typing import Any

import logfire_api

_logfire = logfire_api.with_settings(custom_scope_suffix="playbooks", tags=["agentical"])


def lifecycle_event(event: str, **attributes: Any) -> None:
    """Record one lifecycle event (``execution.started``...) as a Logfire log."""
    present = {key: value for key, value in attributes.items() if value is not None}
    _logfire.info(event, **present)
