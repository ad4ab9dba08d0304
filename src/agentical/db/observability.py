"""Logfire events for lifecycle changes, through ``logfire-api``.

``logfire-api`` is a no-op shim until the application configures the full SDK: the library
never configures anything itself. Attributes are ids, names, states and durations, never
variable values.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import logfire_api

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

_logfire = logfire_api.with_settings(custom_scope_suffix="playbooks", tags=["agentical"])


def lifecycle_event(event: str, **attributes: Any) -> None:
    """Record one lifecycle event (``execution.started``...) as a Logfire log."""
    present = {key: value for key, value in attributes.items() if value is not None}
    _logfire.info(event, **present)


def instrument(engine: Engine | AsyncEngine) -> bool:
    """Trace every query of ``engine`` with Logfire; ``False`` (and nothing done) when the
    full SDK with its SQLAlchemy integration (extra ``logfire``) is not installed.

    The application still calls ``logfire.configure()``; until it does, spans go nowhere.
    """
    if importlib.util.find_spec("logfire") is None:
        return False
    import logfire

    try:
        # The instrumentor declares SQLAlchemy < 2.1 although it works with 2.1.
        logfire.instrument_sqlalchemy(engine=engine, skip_dep_check=True)
    except RuntimeError:  # logfire without opentelemetry-instrumentation-sqlalchemy
        return False
    return True
